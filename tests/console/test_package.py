"""The console package: its files ship in the wheel, and it never swallows API paths."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.conftest import make_settings
from tympan.api.app import create_app
from tympan.console import CONSOLE_DIR

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_console_file_is_package_data() -> None:
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    patterns = globs["tympan.console"]
    files = [p.relative_to(CONSOLE_DIR.parent) for p in CONSOLE_DIR.rglob("*") if p.is_file()]
    left_out = [path for path in files if not any(path.match(glob) for glob in patterns)]
    assert left_out == [], f"add these to [tool.setuptools.package-data]: {left_out}"
    assert Path("static/index.html") in files


def test_a_websocket_to_an_unknown_path_is_closed_cleanly(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/v1/no-such-socket"):
            pass
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/").headers["content-type"].startswith("text/html")
