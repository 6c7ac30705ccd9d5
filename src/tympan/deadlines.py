"""Request deadlines: work of a request that ran out of time, or whose client left, stops.

The API gives each request a ``Deadline`` held in a context variable. The variable follows the
request's work into inference threads (``bind_to_request`` copies the context), and long loops
call ``check_deadline()`` between blocks, so abandoned work stops at the next block instead of
running to the end; work still queued when its request is abandoned never starts.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tympan.budgets import setting_variable
from tympan.errors import DeadlineExceeded

__all__ = ["Deadline", "bind_to_request", "check_deadline", "deadline_scope"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "tympan_deadline", default=None
)


@dataclass(slots=True)
class Deadline:
    """When a request's work must stop (``seconds`` from now; 0 = never), or that it was left."""

    seconds: float
    setting: str = "request_timeout_seconds"
    started: float = field(default_factory=time.monotonic)
    abandoned: bool = False
    stopped: bool = False

    def abandon(self) -> None:
        """The client went away: every later ``check`` fails."""
        self.abandoned = True

    @property
    def expired(self) -> bool:
        return self.seconds > 0 and time.monotonic() - self.started > self.seconds

    def check(self) -> None:
        """``DeadlineExceeded`` (503) if the request ran out of time or was abandoned."""
        if self.expired or self.abandoned:
            error = self.error()
            if not self.stopped:
                self.stopped = True
                log.info("request work stopped: %s", error.message)
            raise error

    def error(self) -> DeadlineExceeded:
        """Why the request's work stops: its time limit, or its client leaving."""
        if self.expired:
            return DeadlineExceeded(
                f"The request ran past its {self.seconds:g} s time limit "
                f"({setting_variable(self.setting)}); its work was stopped.",
                retry_after=1,
            )
        return DeadlineExceeded("The client disconnected; its work was stopped.", retry_after=1)


def check_deadline() -> None:
    """Stop (``DeadlineExceeded``) if the current request's deadline has passed."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()


@contextlib.contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the current request's for the code (and tasks started) inside."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def bind_to_request(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` to run in another thread under the caller's deadline, checked before it starts."""
    context = contextvars.copy_context()

    def checked(*args: Any, **kwargs: Any) -> T:
        check_deadline()
        return fn(*args, **kwargs)

    return functools.partial(context.run, checked)
