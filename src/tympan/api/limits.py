"""ASGI middleware for per-request limits that must act before a route runs.

``JsonBodyLimit`` refuses a non-multipart body (JSON, url-encoded) over ``max_json_bytes``
while it arrives, before anything parses it. ``RequestDeadline`` gives each request a
``Deadline`` (``request_timeout_seconds``), answers 503 when it passes before the response has
started, and marks the request's work abandoned when its time is up or its client disconnects,
so work running in inference threads stops at its next check.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tympan.api.errors import error_response
from tympan.budgets import over_budget
from tympan.deadlines import Deadline, deadline_scope
from tympan.errors import TympanError

__all__ = ["JsonBodyLimit", "RequestDeadline"]

_SENDING_GRACE_SECONDS = 1.0  # a response already started at the deadline may finish


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.lower().startswith(b"multipart/")
    return False


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class JsonBodyLimit:
    """Buffer a non-multipart body up to ``max_bytes`` and refuse it (413) past that."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: str) -> TympanError:
        return over_budget("max_json_bytes", self.max_bytes, f"a {size} byte body", param="body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_multipart(scope):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(self._too_large(f"{declared:,}"))(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left while sending
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await error_response(self._too_large(f"over {size:,}"))(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class RequestDeadline:
    """Run each request under a ``Deadline``; stop it when time is up or its client leaves."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = Deadline(self.seconds)
        started = finished = False
        forwarded: asyncio.Queue[Message] = asyncio.Queue()
        watcher: asyncio.Task[None] | None = None

        async def watch_disconnect() -> None:
            message = await receive()
            if message["type"] == "http.disconnect" and not finished:
                deadline.abandon()
                app_task.cancel()
            await forwarded.put(message)

        async def receive_body() -> Message:
            nonlocal watcher
            if watcher is not None:
                return await forwarded.get()
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                watcher = asyncio.create_task(watch_disconnect())
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started, finished
            started = True
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        with deadline_scope(deadline):
            app_task = asyncio.create_task(self.app(scope, receive_body, tracked_send))
        try:
            timeout = self.seconds if self.seconds > 0 else None
            await asyncio.wait_for(asyncio.shield(app_task), timeout)
        except TimeoutError:  # threads still working see the deadline expired and stop
            if started:  # e.g. the work's own 503 is on its way: let it finish sending
                await asyncio.wait({app_task}, timeout=_SENDING_GRACE_SECONDS)
            app_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await app_task
            if not started:
                await error_response(deadline.error())(scope, receive, send)
        except asyncio.CancelledError:
            app_task.cancel()
            if not deadline.abandoned:
                raise  # the server is shutting down, not the client leaving
        finally:
            if watcher is not None:
                watcher.cancel()
