"""The hostile files of ``../shared/eval/bad_inputs`` and the outcome each must get.

Every endpoint that takes audio runs ``check_bad_audio`` over ``BAD_AUDIO_CASES`` in its own
test module; endpoints that take datasets do the same with ``BAD_DATASET_CASES``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, select

from tests.conftest import EVAL_DIR, read_manifest
from tympan.client import Client
from tympan.store.db import Database

__all__ = ["BAD_AUDIO_CASES", "BAD_DATASET_CASES", "check_bad_audio", "db_fingerprint"]

_ROWS = read_manifest("bad_inputs")
BAD_AUDIO_CASES = [
    pytest.param(row, id=row["file"]) for row in _ROWS if not row["file"].endswith(".zip")
]
BAD_DATASET_CASES = [
    pytest.param(row, id=row["file"]) for row in _ROWS if row["file"].endswith(".zip")
]
_ALLOWED = {"accept": {200}, "reject": {400}, "limit": {413}}
# Files for which a 400 saying "too short / no usable audio" is an allowed answer too.
_MAY_REFUSE = {"nan_inf_float.wav", "tiny_10ms.wav"}


def db_fingerprint(db: Database) -> str:
    """A hash of every row of every table: equal before and after means nothing changed."""
    metadata = MetaData()
    metadata.reflect(db.engine)
    digest = hashlib.sha256()
    with db.engine.connect() as connection:
        for table in sorted(metadata.tables.values(), key=lambda t: t.name):
            for row in connection.execute(select(table)):
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


def _assert_finite(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value), "non-finite number in a JSON response"
    elif isinstance(value, Mapping):
        for item in value.values():
            _assert_finite(item)
    elif isinstance(value, list):
        for item in value:
            _assert_finite(item)


def check_bad_audio(
    client: Client,
    endpoint: str,
    case: dict[str, str],
    fields: Mapping[str, Any] | None = None,
    *,
    file_field: str = "file",
    extra_files: Mapping[str, tuple[str, bytes]] | None = None,
) -> httpx.Response:
    """Send one hostile file to ``endpoint``; assert the manifest's outcome and no side effect.

    Returns the response so a caller can check more of an accepted result.
    """
    from tests.conftest import services_of

    db = services_of(client).db
    before = db_fingerprint(db)
    data = (EVAL_DIR / "bad_inputs" / case["file"]).read_bytes()
    http = client._http
    response = http.post(
        endpoint,
        files={**(extra_files or {}), file_field: (case["file"], data)},
        data={k: str(v) for k, v in (fields or {}).items()},
    )
    allowed = set(_ALLOWED[case["expect"]])
    if case["file"] in _MAY_REFUSE:
        allowed.add(400)
    assert response.status_code in allowed, (case["file"], response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        assert body["error"]["message"]
        if response.status_code == 413:  # every limit names its setting
            assert "TYMPAN_" in body["error"]["message"], body
        if extra_files:  # the error names the hostile field, not the good one
            assert body["error"]["param"] == file_field, body
        assert db_fingerprint(db) == before, "a refused request changed the database"
    elif response.headers.get("content-type", "").startswith("application/json"):
        _assert_finite(response.json())
    return response
