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


class _Server:
    """moto's S3 server on one loopback port; stopped and started again on the same port, it
    keeps its buckets (moto's state lives in this process)."""

    def __init__(self) -> None:
        self._moto = pytest.importorskip("moto.server", reason="moto[s3] (dev dependency) missing")
        self.port = 0
        self.start()

    def start(self) -> None:
        self._server = self._moto.ThreadedMotoServer(
            ip_address="127.0.0.1", port=self.port, verbose=False
        )
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        self._server.stop()


@dataclass(frozen=True, slots=True)
class ObjectStore:
    """Where a test's bucket is and the fsspec options that reach it."""

    url: str
    options: dict[str, str]
    server: _Server

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The store's server is down inside the block, back (same buckets) after it."""
        self.server.stop()
        try:
            yield
        finally:
            self.server.start()


@contextlib.contextmanager
def s3_bucket() -> Iterator[ObjectStore]:
    """A fresh bucket on a throwaway S3 server bound to 127.0.0.1."""
    s3fs = pytest.importorskip("s3fs")
    server = _Server()
    try:
        options = {
            "endpoint_url": f"http://127.0.0.1:{server.port}",
            "key": "test",
            "secret": "test",
        }
        bucket = f"tympan-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir(bucket)
        yield ObjectStore(f"s3://{bucket}/artifacts", options, server)
    finally:
        server.stop()
