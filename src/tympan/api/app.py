"""The FastAPI application factory.

Routers are discovered from ``tympan.api.routers`` (each module exposes ``router``), so a new
capability adds one module and nothing here changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tympan import __version__
from tympan._discovery import iter_submodules
from tympan.api.deps import authenticate
from tympan.api.errors import error_response, install_error_handlers
from tympan.api.services import Services
from tympan.config import Settings
from tympan.console import ConsoleFiles
from tympan.errors import UploadTooLarge

__all__ = ["create_app"]

log = logging.getLogger("tympan.api")

_MULTIPART_OVERHEAD = 1024 * 1024  # form fields and boundaries around the file itself


class BodyLimit:
    """Refuse bodies over the upload limit (413) before they are read, and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode() or "0"
        too_large = UploadTooLarge(f"The request body is over the {self.max_bytes} byte limit.")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(too_large)(scope, receive, send)
            return
        received = 0

        async def limited_receive():  # type: ignore[no-untyped-def]
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large
            return message

        await self.app(scope, limited_receive, send)


async def _evict_idle(services: Services) -> None:
    while True:
        await asyncio.sleep(30)
        services.manager.evict()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Tympan app; services start with the app's lifespan and stop with it."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.start(settings)
        app.state.services = services
        janitor = asyncio.create_task(_evict_idle(services))
        try:
            yield
        finally:
            janitor.cancel()
            services.close()

    app = FastAPI(
        title="Tympan",
        version=__version__,
        description="Self-hosted audio AI: OpenAI-compatible speech APIs and more.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in iter_submodules("tympan.api.routers"):
        app.include_router(module.router, dependencies=[Depends(authenticate)])
    # The web console, after every API route so it only answers paths the API does not have.
    app.mount("/", ConsoleFiles(), name="console")
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    return app
