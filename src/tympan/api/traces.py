"""``RequestSpans``: an OpenTelemetry server span per HTTP request, exported over OTLP/HTTP.

Installed only when ``TYMPAN_OTLP_ENDPOINT`` is set (with it empty the app has no tracing code
on its path, and the OpenTelemetry SDK is never imported). ``Tracing`` is the app's own tracer
provider, with a batch processor that sends spans to ``<endpoint>/v1/traces`` in OTLP's
protobuf encoding; it lives on ``app.state.tracing`` from startup to shutdown, when it flushes.
The process-wide provider is left alone, so several apps in one process each keep theirs.

The middleware sits inside ``RequestId`` (its span carries ``tympan.request_id``) and outside
everything else, so refusals by the key check and the limits are traced too. It binds the
tracer and makes the server span current (``tympan.tracing``), so the stages of the work
(``span("vad")`` in task code, in any thread the request hands work to) become its children.
A caller's W3C ``traceparent`` header is honoured: the request joins the caller's trace.

Why not opentelemetry-instrumentation-fastapi or FastAPI's own telemetry: both read the
process-global provider and add spans for every ASGI message or dependency; Tympan wants one
span per request, named by its route template like ``RequestMetrics``' labels, as the parent of
its stage spans, from a provider owned by the app. That is the few lines below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tympan import __version__
from tympan.tracing import bound_tracer, current_request_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["RequestSpans", "Tracing"]

_EXPORT_TIMEOUT_SECONDS = 5.0
"""Per export, retries included: a collector that is down delays only the export thread."""

_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """An app's tracer provider: spans batched and sent to ``endpoint`` over OTLP/HTTP."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        # The SDK is imported only when tracing is on.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.endpoint = endpoint.rstrip("/") + "/v1/traces"
        resource = Resource.create({"service.name": service_name, "service.version": __version__})
        self.provider: TracerProvider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self._processor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.endpoint, timeout=_EXPORT_TIMEOUT_SECONDS)
        )
        self.provider.add_span_processor(self._processor)
        self.tracer = self.provider.get_tracer("tympan", __version__)

    def flush(self) -> bool:
        """Send every finished span now; whether the processor managed to."""
        return self._processor.force_flush()

    def shutdown(self) -> None:
        """Send what is left and stop (a collector that is down costs each export that is
        left a few seconds of retries, then the spans are dropped)."""
        self.provider.shutdown()


class RequestSpans:
    """ASGI middleware: a ``SERVER`` span per HTTP request, named ``METHOD /route/template``,
    with ``http.request.method``, ``http.route``, ``http.response.status_code`` and
    ``tympan.request_id``; 5xx answers and exceptions mark it as an error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracing: Tracing | None = getattr(scope["app"].state, "tracing", None)
        if scope["type"] != "http" or tracing is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        if request_id := current_request_id():
            attributes["tympan.request_id"] = request_id
        parent = _PROPAGATOR.extract(Headers(scope=scope))
        status = 500  # an exception with no response is our bug

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with (
            bound_tracer(tracing.tracer),
            tracing.tracer.start_as_current_span(
                method, parent, kind=SpanKind.SERVER, attributes=attributes
            ) as server,
        ):
            try:
                await self.app(scope, receive, recording_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    server.update_name(f"{method} {route}")
                    server.set_attribute("http.route", route)
                server.set_attribute("http.response.status_code", status)
                if status >= 500:
                    server.set_status(StatusCode.ERROR)
