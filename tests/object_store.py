"""An S3-compatible server on loopback for the object-store artifact tests.

moto's server speaks the S3 HTTP API in a thread of the test process; it is what s3fs's own
test suite runs against. Tympan reaches it exactly as it would reach MinIO or AWS: through
s3fs, over HTTP, with an ``endpoint_url``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True, slots=True)
class ObjectStore:
    """Where a test's bucket is and the fsspec options that reach it."""

    url: str
    options: dict[str, str]


@contextlib.contextmanager
def s3_bucket() -> Iterator[ObjectStore]:
    """A fresh bucket on a throwaway S3 server bound to 127.0.0.1."""
    moto_server = pytest.importorskip("moto.server", reason="moto[s3] (dev dependency) missing")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        options = {"endpoint_url": f"http://{host}:{port}", "key": "test", "secret": "test"}
        bucket = f"tympan-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir(bucket)
        yield ObjectStore(f"s3://{bucket}/artifacts", options)
    finally:
        server.stop()
