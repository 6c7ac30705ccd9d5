"""A real uvicorn server on a free loopback port, in a background thread of the test process.

The in-process ``TestClient`` buffers whole responses, so whatever must see real HTTP
(streaming, the official ``openai`` client over a socket) runs against this instead.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from tympan.api.app import create_app
from tympan.config import Settings

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(
    settings: Settings,
    *,
    startup_timeout: float = 60.0,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """Serve a Tympan app on ``127.0.0.1``; yields its base URL, stops it on exit.

    With ``tls`` (a key and a certificate file) it serves HTTPS and WSS.

    The socket is bound here and handed to uvicorn, so no other process can take the port
    between choosing and binding it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    key, cert = tls or (None, None)
    config = uvicorn.Config(
        create_app(settings),
        log_level="warning",
        lifespan="on",
        ssl_keyfile=key and str(key),
        ssl_certfile=cert and str(cert),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
