"""The id of the request being served, readable from any layer (logs, job rows).

The HTTP middleware (``api/request_id.py``) binds it for the length of a request; code below the
API (the job store) reads it with ``current_request_id`` to carry it into what outlives the
request, so one id links an HTTP call, its log lines and the job it started.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["bound_request_id", "current_request_id"]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tympan_request_id", default=None
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
