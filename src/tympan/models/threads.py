"""PyTorch's thread count, changed only through one guard so concurrent work cannot corrupt it.

``torch.set_num_threads`` sets the calling thread's OpenMP count and the process-wide default
that a thread inherits at its first torch call (measured: a thread that called
``set_num_threads`` before any other torch call still takes the default at its next call).
The old pattern ("remember the current count, set mine, put the remembered one back") breaks
when two threads overlap: the second remembers the first one's temporary count and restores it
last, so every later thread runs with it. Here the count outside any block is one resting
value, set once (from ``TYMPAN_CPU_THREADS``, else torch's default), every change happens under
one lock, and each block puts the resting value back, never a value it read.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Self, TypeVar

__all__ = [
    "PartPool",
    "pin_resting_threads",
    "resting_threads",
    "set_resting_threads",
    "torch_threads",
]

_Part = TypeVar("_Part")
_Result = TypeVar("_Result")

_guard = threading.Lock()
_resting: int | None = None


def _set_for_this_thread(count: int) -> None:
    import torch  # deferred: most of the service never needs torch

    torch.get_num_threads()  # first call in a thread takes the default: do it before setting
    torch.set_num_threads(count)


def resting_threads() -> int:
    """The torch thread count outside any ``torch_threads`` block."""
    global _resting
    with _guard:
        if _resting is None:
            import torch

            _resting = torch.get_num_threads()
        return _resting


def set_resting_threads(count: int) -> None:
    """Set the resting count (once, at start: ``TYMPAN_CPU_THREADS``); 0 keeps torch's default."""
    global _resting
    if count <= 0:
        return
    with _guard:
        _resting = count
        _set_for_this_thread(count)


def pin_resting_threads() -> None:
    """Give the calling thread the resting count (worker pools call it as their initializer)."""
    count = resting_threads()
    with _guard:
        _set_for_this_thread(count)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then go back to the resting count.

    Small networks (classifier heads, music models) step faster on one thread: on a busy
    two-core machine two OpenMP threads spin-waiting on each other were measured 28-30x slower.
    """
    resting_threads()  # fixed before the first change, so it is never a block's count
    with _guard:
        _set_for_this_thread(count)
    try:
        yield
    finally:
        pin_resting_threads()


class PartPool:
    """Runs the parts of one piece of work side by side, at most ``size`` at once.

    The first part runs in the calling thread, the others in the pool's own ``size - 1``
    threads, each in a copy of the caller's context (so a request's deadline still stops
    it). Used where a runtime does better with parts on one thread each than with one call
    on every thread: Whisper's workers, Silero over a long file, enhancement of a long file.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = max(1, size)
        self._pool = ThreadPoolExecutor(self.size - 1, name) if self.size > 1 else None

    def map(self, fn: Callable[[_Part], _Result], parts: Sequence[_Part]) -> list[_Result]:
        """``fn`` over ``parts``, results in order; more parts than ``size`` wait their turn."""
        if self._pool is None or len(parts) < 2:
            return [fn(part) for part in parts]
        others = [self._pool.submit(contextvars.copy_context().run, fn, part) for part in parts[1:]]
        first = fn(parts[0])
        return [first, *(future.result() for future in others)]

    def close(self) -> None:
        """Stop the threads (work already running finishes)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
