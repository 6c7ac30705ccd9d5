"""``tympan language``: in-process and against a live server, JSON line per file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import EVAL_DIR, read_manifest
from tympan.cli import app

ROWS = {row["language"]: row for row in read_manifest("multilingual")}
FILES = [EVAL_DIR / "multilingual" / ROWS[code]["audio"] for code in ("es", "pt")]


def test_language_against_a_live_server(live_server: str) -> None:
    result = CliRunner().invoke(
        app, ["language", *map(str, FILES), "--top", "2", "--server", live_server]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["language"] for line in lines] == ["es", "pt"]
    assert all(len(line["candidates"]) == 2 for line in lines)


def test_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["language", str(tmp_path / "missing.wav")])
    assert result.exit_code != 0
