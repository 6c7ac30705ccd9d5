"""``RequestId``: one id per HTTP request, taken from ``X-Request-ID`` or made, and echoed.

A caller's (or a proxy's) ``X-Request-ID`` is kept when it is a plain token (letters, digits,
``-_.:``, at most 128 characters), so one id follows a request through every hop; otherwise a new
one is made. The id is answered in ``X-Request-ID`` and readable during the request from
``tympan.tracing.current_request_id``: the access log line (``api/metrics.py``), log lines
deeper in the work and job rows carry it.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tympan.tracing import bound_request_id

__all__ = ["HEADER", "RequestId"]

HEADER = "x-request-id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER.encode():
            text = value.decode("latin-1")
            return text if _VALID.fullmatch(text) else None
    return None


class RequestId:
    """ASGI middleware: keep or make the request id, bind it for the request, answer it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with bound_request_id(request_id):
            await self.app(scope, receive, send_with_id)
