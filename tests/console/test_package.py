"""The console package: its files ship in the wheel and are served without a key."""

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


def test_console_files_need_no_key_and_refuse_websockets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys="secret")
    with TestClient(create_app(settings)) as client:
        assert client.get("/").headers["content-type"].startswith("text/html")  # redirected
        assert client.get("/console/js/api.js").status_code == 200
        assert client.get("/v1/speakers").status_code == 401  # the API still needs the key
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/console/index.html"):
            pass
        assert client.get("/healthz").json()["status"] == "ok"


def test_the_console_loads_nothing_from_elsewhere() -> None:
    """No CDN, font or script from another host: it must work offline."""
    svg_namespace = "http://www.w3.org/2000/svg"  # an XML name, never fetched
    for path in CONSOLE_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text().replace(svg_namespace, "")
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
