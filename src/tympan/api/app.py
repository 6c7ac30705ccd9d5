"""The FastAPI application factory.

Routers are discovered from ``tympan.api.routers`` (each module exposes ``router``), so a new
capability adds one module and nothing here changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

from fastapi import FastAPI
from prometheus_client import start_http_server
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tympan import __version__
from tympan._discovery import iter_submodules
from tympan.api.errors import error_response, install_error_handlers
from tympan.api.limits import JsonBodyLimit, RequestDeadline
from tympan.api.metrics import RequestMetrics
from tympan.api.request_id import RequestId
from tympan.api.security import AccessPolicy, RequestGuard, is_loopback_host
from tympan.api.services import Services
from tympan.api.traces import RequestSpans, Tracing
from tympan.config import Settings
from tympan.console import CONSOLE_PATH, ConsoleFiles
from tympan.errors import UploadTooLarge
from tympan.metrics import DriftSample, ServiceCollector, app_registry
from tympan.tasks.asr.drift import asr_drift_report
from tympan.tasks.asr.pipeline import transcriber_for
from tympan.tasks.classifiers.service import version_drift

__all__ = ["create_app"]

log = logging.getLogger("tympan.api")

_MULTIPART_OVERHEAD = 1024 * 1024  # form fields and boundaries around the file itself


class BodyLimit:
    """Refuse bodies over the upload limit with 413, declared (Content-Length) or streamed.

    A chunked body that runs over is cut off; whatever the app answers to the cut-off body
    (a parse error) is replaced by the 413 naming the setting.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = UploadTooLarge(
            f"The request body is over {self.max_bytes} bytes (TYMPAN_MAX_UPLOAD_BYTES plus "
            f"{_MULTIPART_OVERHEAD} for form fields)."
        )
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(too_large)(scope, receive, send)
            return
        received = 0
        overflowed = responded = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                overflowed = True
                raise too_large
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal responded
            if overflowed and not responded:
                return  # the app's answer to a cut-off body; the 413 goes instead
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not overflowed or responded:
                raise
        if overflowed and not responded:
            await error_response(too_large)(scope, receive, send)


async def _evict_idle(services: Services) -> None:
    while True:
        await asyncio.sleep(30)
        services.manager.evict()


def _collector(services: Services) -> ServiceCollector:
    """Scrape-time gauges of ``services``: each model's state, the jobs by kind and state, and
    the drift of every model with recent inputs."""

    def models() -> Iterator[tuple[str, str, bool, int]]:
        for spec in services.registry.list():
            status = services.manager.status(spec.id)
            yield spec.id, spec.task, status.loaded, status.memory_bytes

    def drift() -> Iterator[DriftSample]:
        for ref in services.drift.watched():
            name, version = str(ref).rsplit(":", 1)
            report = version_drift(services, name, int(version))
            distances = {shift.statistic: shift.distance for shift in report.statistics}
            yield DriftSample("classifier", ref, "", report.recent, report.drifting, distances)
        settings = services.settings
        quality = transcriber_for(services.manager, settings).quality
        for model in sorted({key[0] for key in quality.watched()}):
            asr = asr_drift_report(
                model, quality, settings.asr_drift_failing_share, settings.drift_min_samples
            )
            for language in asr.languages:
                yield DriftSample(
                    "asr",
                    model,
                    language.language,
                    language.recent,
                    language.drifting,
                    language.statistics,
                )

    return ServiceCollector(models, services.jobs.counts, drift)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Tympan app; services start with the app's lifespan and stop with it.

    ``ValueError`` when the settings would serve a network address without API keys (and
    without ``insecure``), or hold a malformed API key.
    """
    settings = settings or Settings()
    policy = AccessPolicy.from_settings(settings)
    if not policy.keys and not settings.insecure and not is_loopback_host(settings.host):
        raise ValueError(
            f"Refusing to serve on {settings.host} without API keys: set TYMPAN_API_KEYS, bind "
            "to 127.0.0.1, or set TYMPAN_INSECURE=true (tympan serve --insecure)."
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.start(settings)
        app.state.services = services
        app.state.metrics_registry = registry = app_registry(_collector(services))
        if settings.otlp_endpoint:
            app.state.tracing = Tracing(settings.otlp_endpoint, settings.otlp_service_name)
        exporter = None
        if settings.metrics_port:
            exporter, _ = start_http_server(settings.metrics_port, "127.0.0.1", registry)
        janitor = asyncio.create_task(_evict_idle(services))
        wyoming = None
        if settings.wyoming_uri:
            from tympan.api.wyoming import WyomingServer  # only imported when it is served

            wyoming = WyomingServer(services, settings.wyoming_uri)
            await wyoming.start()
        try:
            yield
        finally:
            if wyoming is not None:
                await wyoming.stop()
            janitor.cancel()
            if exporter is not None:
                exporter.shutdown()
            services.close()
            if settings.otlp_endpoint:
                app.state.tracing.shutdown()  # after the last request's spans have ended

    app = FastAPI(
        title="Tympan",
        version=__version__,
        description="Self-hosted audio AI: OpenAI-compatible speech APIs and more.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in iter_submodules("tympan.api.routers"):
        app.include_router(module.router)
    app.mount(CONSOLE_PATH, ConsoleFiles(), name="console")  # the web console
    app.add_route("/", lambda _: RedirectResponse(f"{CONSOLE_PATH}/"), include_in_schema=False)
    app.add_middleware(JsonBodyLimit, max_bytes=settings.max_json_bytes)
    app.add_middleware(RequestDeadline, seconds=settings.request_timeout_seconds)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    if policy.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(policy.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestGuard, policy=policy)  # before CORS and the body
    app.add_middleware(RequestMetrics)  # refusals are counted and logged too
    if settings.otlp_endpoint:
        app.add_middleware(RequestSpans)  # inside RequestId: its span carries the request id
    app.add_middleware(RequestId)  # outermost: every request and its log line has an id
    return app
