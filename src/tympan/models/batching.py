"""``BatchQueue``: gather work items from many concurrent callers into one batched call.

Models such as Whisper decode a batch of inputs for little more than the cost of one, so a
server that runs each request's call on its own wastes most of the machine under load, and one
that runs them in N threads makes them fight over the same cores. A queue per model collects
the items callers submit, waits a few milliseconds (or until the batch is full) for company,
runs ONE batched call (in the model manager's executor, via the ``run_batch`` coroutine it is
given) and resolves each caller's future with its own result. While a batch runs, new items
wait and form the next one, so a busy queue batches without any waiting at all.

In a traced request each item has a ``queue`` span, from its submission to the start of its
batch, and each batch an ``inference`` span (``tympan.batch_size``) in the trace of every
request with items in it: the worker serves every caller, so the items carry their parents.

The queue is bounded by callers, not items: a request takes an ``admission`` before its work
starts (all its items may then queue), and past ``max_callers`` admissions the next request is
refused with ``Overloaded`` (503, Retry-After) instead of waiting in an ever longer line.

Items submitted as ``background`` (a live session's preview of a turn still going) only ever
run in batches of their own, when no other item waits: a final text is never held behind a
preview that could be redone later.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tympan.budgets import setting_variable
from tympan.errors import Overloaded
from tympan.metrics import BATCH_SIZE, QUEUE_DEPTH, QUEUE_REFUSALS
from tympan.tracing import StageSpan, shared_span, start_span

__all__ = ["BatchQueue", "BatchStats"]

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")


@dataclass(slots=True)
class BatchStats:
    """How a queue has batched so far (for logs, tests and benchmarks)."""

    batches: int = 0
    items: int = 0
    largest: int = 0

    @property
    def mean_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


@dataclass(slots=True)
class _Entry(Generic[I, R]):
    """A waiting item: its caller's future, its queue span, and whether it may wait."""

    item: I
    future: asyncio.Future[R]
    waiting: StageSpan
    background: bool


class BatchQueue(Generic[I, R]):
    """Submit items one by one from any number of coroutines; they are run in batches.

    ``run_batch(items)`` returns one result per item, in order; a result that is an exception
    fails only its own caller. An exception raised by ``run_batch`` fails the whole batch.
    One batch runs at a time per queue by default: the batched call already uses every core it
    is given. ``parallel`` lets that many batches run at once (two per Ray Serve replica of the
    model: one decoding, one waiting); the next batch still gathers while they run. Once
    ``eager`` batches run (one per replica), another gathers until it is full or one of them
    ends. Must be used from one event loop.
    """

    def __init__(
        self,
        run_batch: Callable[[list[I]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int,
        max_wait: float,
        name: str = "batch",
        max_callers: int | None = None,
        limit_setting: str | None = None,
        parallel: int = 1,
        eager: int | None = None,
    ) -> None:
        if max_batch < 1 or parallel < 1:
            raise ValueError("max_batch and parallel must be at least 1")
        self._eager = parallel if eager is None else eager
        self.max_callers = max_callers
        self.limit_setting = limit_setting
        self._admitted = 0
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.name = name
        self.stats = BatchStats()
        self._pending: list[_Entry[I, R]] = []
        self._full = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._free = asyncio.Semaphore(parallel)  # batches that may start now
        self._running: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Items waiting for a batch."""
        return len(self._pending)

    @property
    def admitted(self) -> int:
        """Callers holding an admission."""
        return self._admitted

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold a caller's place while it submits; ``Overloaded`` (503) when the queue is full."""
        if self.max_callers is not None and self._admitted >= self.max_callers:
            QUEUE_REFUSALS.labels(self.name).inc()
            setting = f" ({setting_variable(self.limit_setting)})" if self.limit_setting else ""
            raise Overloaded(
                f"The {self.name} queue is full: {self._admitted} requests are waiting"
                f"{setting}; retry shortly.",
                retry_after=1.0,
            )
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    @property
    def running(self) -> int:
        """Batches running now."""
        return len(self._running)

    @property
    def pending_foreground(self) -> int:
        """Items waiting for a batch that are not ``background``."""
        return sum(not entry.background for entry in self._pending)

    async def submit(self, item: I, *, background: bool = False) -> R:
        """Queue ``item`` and wait for its result (a cancelled wait drops the item).

        ``background`` items run only when no other item waits, in batches of their own.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        span = start_span("queue", queue=self.name)
        self._pending.append(_Entry(item, future, span, background))
        QUEUE_DEPTH.labels(self.name).set(len(self._pending))
        if len(self._pending) >= self.max_batch:
            self._full.set()
        if self._worker is None or self._worker.done():
            # A fresh context: the worker serves every caller, not the request that started it.
            self._worker = asyncio.create_task(
                self._drain(), name=f"{self.name}-queue", context=contextvars.Context()
            )
        return await future

    async def _drain(self) -> None:
        while self._pending:
            await self._free.acquire()  # items keep gathering while every batch place is taken
            if len(self._pending) < self.max_batch and self.max_wait > 0:
                self._full.clear()
                if len(self._running) >= self._eager:
                    await self._gather_until_full_or_done()
                else:  # give concurrent callers a moment to join; a full batch goes at once
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), self.max_wait)
            taken = self._take()
            QUEUE_DEPTH.labels(self.name).set(len(self._pending))
            for entry in taken:
                entry.waiting.end()
            live = [entry for entry in taken if not entry.future.done()]
            if not live:
                self._free.release()
                continue
            batch = asyncio.create_task(self._run(live))
            self._running.add(batch)
            batch.add_done_callback(self._batch_done)

    async def _gather_until_full_or_done(self) -> None:
        """Every replica has a batch: the next one would only wait behind them, so it keeps
        gathering until it is full or a running batch ends (smaller batches decode less
        efficiently; sending it then costs one round trip, about 10 ms)."""
        full = asyncio.create_task(self._full.wait())
        try:
            await asyncio.wait({full, *self._running}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            full.cancel()

    def _take(self) -> list[_Entry[I, R]]:
        """The next batch, in submission order: foreground items first and alone; background
        items only when no foreground item waits."""
        foreground = [entry for entry in self._pending if not entry.background]
        taken = (foreground or self._pending)[: self.max_batch]
        chosen = {id(entry) for entry in taken}
        self._pending = [entry for entry in self._pending if id(entry) not in chosen]
        return taken

    def _batch_done(self, batch: asyncio.Task[None]) -> None:
        self._running.discard(batch)
        self._free.release()

    async def _run(self, batch: list[_Entry[I, R]]) -> None:
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        BATCH_SIZE.labels(self.name).observe(len(batch))
        log.debug("%s: batch of %d (%d waiting)", self.name, len(batch), len(self._pending))
        traces = [entry.waiting.parent for entry in batch]
        try:
            with shared_span("inference", traces, queue=self.name, batch_size=len(batch)):
                results = await self._run_batch([entry.item for entry in batch])
        except Exception as exc:  # the whole batch failed: every caller sees why
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(exc)
            return
        for entry, result in zip(batch, results, strict=True):
            future = entry.future
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
