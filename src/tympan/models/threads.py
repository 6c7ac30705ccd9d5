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

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["pin_resting_threads", "resting_threads", "set_resting_threads", "torch_threads"]

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
