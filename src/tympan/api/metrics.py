"""``RequestMetrics``: count and time every HTTP request by route template, method and status.

The outermost middleware, so refusals by the guard and the limits are counted too. It also
publishes the request's scope to ``tympan.metrics.request_scope``, so work deep in the request
(decoding an upload) can label what it counts by the route that matched.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tympan.metrics import REQUEST_SECONDS, REQUESTS, current_route, request_scope

__all__ = ["RequestMetrics"]


class RequestMetrics:
    """ASGI middleware updating ``tympan_requests`` and ``tympan_request_seconds``."""

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
            route, method = current_route(), scope["method"]
            REQUESTS.labels(route, method, str(status)).inc()
            REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
            request_scope.reset(token)
