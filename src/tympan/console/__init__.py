"""The web console: static HTML, CSS and JavaScript modules served by the API process under
``/console/`` (``/`` redirects there).

The files under ``static/`` run as they are (plain ES modules, no build step, no CDN) and call
only the public API, so everything the console does a client can do too.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose

__all__ = ["CONSOLE_DIR", "CONSOLE_PATH", "ConsoleFiles"]

CONSOLE_DIR = Path(__file__).resolve().parent / "static"
"""Folder of the console's files."""

CONSOLE_PATH = "/console"
"""Where the console is served; its files need no API key (the page asks for the key)."""


class ConsoleFiles(StaticFiles):
    """The console's files (``index.html`` for the folder); a WebSocket to them is closed."""

    def __init__(self) -> None:
        super().__init__(directory=CONSOLE_DIR, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
