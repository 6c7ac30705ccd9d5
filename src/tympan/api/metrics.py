"""``RequestMetrics``: count, time and log every HTTP request by route template, method and status.

Outside the guard and the limits (inside only ``RequestId``), so their refusals are counted too.
It also publishes the request's scope to ``tympan.metrics.request_scope``, so work deep in the
request (decoding an upload) can label what it counts by the route that matched. Each request is
logged on ``tympan.access`` with its status, time and request id.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tympan.metrics import REQUEST_SECONDS, REQUESTS, current_route, request_scope
from tympan.tracing import current_request_id

__all__ = ["RequestMetrics"]

log = logging.getLogger("tympan.access")


class RequestMetrics:
    """ASGI middleware updating ``tympan_requests`` and ``tympan_request_seconds``, and logging
    the request on ``tympan.access``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_scope.set(scope)
        started = time.perf_counter()
        status = 500  # an exception with no response is our bug, counted as one

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route, method, elapsed = current_route(), scope["method"], time.perf_counter() - started
            REQUESTS.labels(route, method, str(status)).inc()
            REQUEST_SECONDS.labels(route, method).observe(elapsed)
            log.info(
                "%s %s %d %.1f ms request_id=%s",
                method,
                scope["path"],
                status,
                elapsed * 1e3,
                current_request_id(),
            )
            request_scope.reset(token)
