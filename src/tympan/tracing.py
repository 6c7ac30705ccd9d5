"""The request being served, readable from any layer: its id, and its trace's spans.

The HTTP middleware (``api/request_id.py``) binds the request id for the length of a request;
code below the API (the job store) reads it with ``current_request_id`` to carry it into what
outlives the request, so one id links an HTTP call, its log lines and the job it started.

With ``TYMPAN_OTLP_ENDPOINT`` set, ``api/traces.py`` also binds the app's OpenTelemetry tracer
and the request's server span; task code then marks its stages with ``span("vad")``, a child
of whatever span is current. Both live in context variables, so they follow the request into
inference threads (``deadlines.bind_to_request`` copies the context). Work that leaves the
request's context (the batching queue's worker serves every caller) carries a ``TraceParent``
captured with ``start_span`` instead. With tracing off nothing is bound, and every helper here
is a no-op after one context-variable read; the OpenTelemetry SDK is never imported.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer

__all__ = [
    "StageSpan",
    "TraceParent",
    "bound_request_id",
    "bound_tracer",
    "current_request_id",
    "shared_span",
    "span",
    "start_span",
]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tympan_request_id", default=None
)
_tracer: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "tympan_tracer", default=None
)


def current_request_id() -> str | None:
    """The id of the request being served (``None`` outside a request)."""
    return _request_id.get()


@contextlib.contextmanager
def bound_request_id(request_id: str) -> Iterator[None]:
    """Make ``request_id`` the current one inside the block."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextlib.contextmanager
def bound_tracer(tracer: Tracer) -> Iterator[None]:
    """Trace the work inside the block (and the threads it hands work to) with ``tracer``."""
    token = _tracer.set(tracer)
    try:
        yield
    finally:
        _tracer.reset(token)


@dataclass(frozen=True, slots=True)
class TraceParent:
    """Where a span taken out of the request's context belongs: its tracer and parent."""

    tracer: Tracer
    context: Context
    span_id: int


class StageSpan:
    """A span of a stage; ``set`` adds attributes, ``end`` closes it. Inert with tracing off."""

    __slots__ = ("_span", "parent")

    def __init__(self, otel_span: Span | None = None, parent: TraceParent | None = None) -> None:
        self._span = otel_span
        self.parent = parent

    def set(self, **attributes: Any) -> None:
        """Add attributes (``batch_size=3`` is ``tympan.batch_size``)."""
        if self._span is not None:
            self._span.set_attributes(_ours(attributes))

    def end(self) -> None:
        if self._span is not None:
            self._span.end()


_OFF = StageSpan()


def _ours(attributes: dict[str, Any]) -> dict[str, Any]:
    """Keyword attributes are Tympan's own: ``chunks=3`` is ``tympan.chunks``."""
    return {f"tympan.{name}": value for name, value in attributes.items()}


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[StageSpan]:
    """A child of the current span for the block, current inside it (nested spans and work
    handed to threads are its children). Keyword attributes are Tympan's own (``chunks=3`` is
    ``tympan.chunks``). A no-op outside a traced request."""
    tracer = _tracer.get()
    if tracer is None:
        yield _OFF
        return
    with tracer.start_as_current_span(name, attributes=_ours(attributes)) as current:
        yield StageSpan(current)


def start_span(name: str, **attributes: Any) -> StageSpan:
    """A child of the current span that the caller ends, possibly in another context; its
    ``parent`` lets work done elsewhere on the request's behalf join the request's trace."""
    tracer = _tracer.get()
    if tracer is None:
        return _OFF
    current = trace.get_current_span()
    context = trace.set_span_in_context(current)
    parent = TraceParent(tracer, context, current.get_span_context().span_id)
    return StageSpan(tracer.start_span(name, context, attributes=_ours(attributes)), parent)


@contextlib.contextmanager
def shared_span(
    name: str, parents: Iterable[TraceParent | None], **attributes: Any
) -> Iterator[None]:
    """One ``name`` span under each distinct parent for the block: work shared by several
    requests (one batch of their items) shows in each request's trace. Exceptions are
    recorded on every span. A no-op when no parent is traced."""
    distinct = {parent.span_id: parent for parent in parents if parent is not None}
    if not distinct:
        yield
        return
    spans = [
        parent.tracer.start_span(name, parent.context, attributes=_ours(attributes))
        for parent in distinct.values()
    ]
    try:
        yield
    except BaseException as exc:
        for current in spans:
            current.record_exception(exc)
            current.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        for current in spans:
            current.end()
