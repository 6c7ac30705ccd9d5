"""``ModelManager``: the one owner of loaded models and of the inference executor.

Models load lazily on first use under a per-model lock, are accounted for in memory, and are
unloaded least-recently-used first when the budget is exceeded or after an idle TTL. A model
that a request is using is never unloaded under it. All inference runs in one bounded thread
pool, never on the event loop; when the pool and its queue are full, callers get ``Overloaded``
(503 with Retry-After) instead of an unbounded backlog. A slot is held until its thread ends,
even when the awaiting request is cancelled (a client that disconnects from a stream cannot
free a slot while its work still runs). Torch's thread count is set once here
(``TYMPAN_CPU_THREADS``) and every inference thread starts with it (``models/threads.py``).

With ``remote`` (Ray Serve replicas, ``serving/ray.py``, when ``TYMPAN_RAY_ADDRESS`` is set),
``infer`` sends the calls of the models it serves to their replicas instead: the same
``fn(handle, ...)``, run where the model is loaded. Everything else stays in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import psutil

from tympan.config import Settings
from tympan.deadlines import bind_to_request
from tympan.errors import Overloaded
from tympan.metrics import (
    INFERENCE_SECONDS,
    MODEL_LOAD_SECONDS,
    MODEL_LOADS,
    MODEL_UNLOADS,
    QUEUE_REFUSALS,
)
from tympan.models.registry import ModelRegistry
from tympan.models.spec import ModelSpec
from tympan.models.threads import pin_resting_threads, set_resting_threads

__all__ = ["LoadedModel", "ModelManager", "ModelStatus", "RemoteModels"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class LoadedModel:
    """A model in memory: its spec, the handle task functions use, and its bookkeeping."""

    spec: ModelSpec
    handle: Any
    memory_bytes: int
    loaded_at: float
    last_used: float
    in_use: int = 0


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What ``/v1/models`` reports about a model's lifetime."""

    loaded: bool
    memory_bytes: int
    last_used: float | None


class RemoteModels(Protocol):
    """Models loaded in other processes (replicas) that run ``fn(handle, ...)`` for us."""

    def serves(self, spec: ModelSpec) -> bool:
        """Whether calls of this model go to the replicas."""
        ...

    def parallel_calls(self, model_id: str) -> int:
        """How many calls of this model may be in flight at once (two per replica)."""
        ...

    async def infer(self, spec: ModelSpec, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(handle, *args, **kwargs)`` run by a replica of the model ``spec`` describes."""
        ...

    def close(self) -> None:
        """Remove the replicas this process deployed."""
        ...


class ModelManager:
    """Loads, shares, accounts for and unloads models; runs inference in a bounded pool."""

    def __init__(
        self, registry: ModelRegistry, settings: Settings, remote: RemoteModels | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.remote = remote
        self._loaded: dict[str, LoadedModel] = {}
        self._state_lock = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}
        self._load_lock = threading.Lock()  # one load at a time keeps RSS deltas meaningful
        set_resting_threads(settings.cpu_threads)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_threads,
            thread_name_prefix="tympan-infer",
            initializer=pin_resting_threads,
        )
        self._slots = threading.BoundedSemaphore(
            settings.inference_threads + settings.inference_queue_size
        )

    # -- lifetime -----------------------------------------------------------------------

    @contextlib.contextmanager
    def use(self, model_id: str, *, task: str | None = None) -> Iterator[LoadedModel]:
        """Lease a loaded model (loading it if needed); it cannot be unloaded while leased."""
        spec = self.registry.get(model_id, task=task)
        model = self._acquire(spec)
        try:
            yield model
        finally:
            with self._state_lock:
                model.in_use -= 1
                model.last_used = time.monotonic()
            self.evict()

    def load(self, model_id: str, *, task: str | None = None) -> None:
        """Load a model now, so the first call that needs it does not wait for the load (a
        model that replicas serve loads there, not here)."""
        if not self.served_remotely(model_id, task):
            with self.use(model_id, task=task):
                pass

    def _acquire(self, spec: ModelSpec) -> LoadedModel:
        with self._state_lock:
            lock = self._model_locks.setdefault(spec.id, threading.Lock())
        with lock:
            with self._state_lock:
                model = self._loaded.get(spec.id)
                if model is not None:
                    model.in_use += 1
                    return model
            model = self._load(spec)
            with self._state_lock:
                model.in_use += 1
                self._loaded[spec.id] = model
        self.evict()
        return model

    def _load(self, spec: ModelSpec) -> LoadedModel:
        with self._load_lock:
            process = psutil.Process()
            before = process.memory_info().rss
            started = time.monotonic()
            handle = spec.load()
            rss_delta = process.memory_info().rss - before
        now = time.monotonic()
        log.info("loaded model %s in %.2f s", spec.id, now - started)
        MODEL_LOADS.labels(spec.id).inc()
        MODEL_LOAD_SECONDS.labels(spec.id).observe(now - started)
        return LoadedModel(spec, handle, max(rss_delta, spec.size_bytes), now, now)

    def unload(self, model_id: str) -> bool:
        """Drop a model from memory unless it is in use; True if it was unloaded."""
        with self._state_lock:
            model = self._loaded.get(model_id)
            if model is None or model.in_use:
                return False
            del self._loaded[model_id]
        close = getattr(model.handle, "close", None)
        if callable(close):
            close()
        log.info("unloaded model %s", model_id)
        MODEL_UNLOADS.labels(model_id).inc()
        return True

    def evict(self) -> list[str]:
        """Unload idle models past the TTL, then LRU ones until within the memory budget."""
        budget = self.settings.model_memory_budget_mb * 1024 * 1024
        now = time.monotonic()
        with self._state_lock:
            idle = sorted(
                (m for m in self._loaded.values() if not m.in_use), key=lambda m: m.last_used
            )
            total = sum(m.memory_bytes for m in self._loaded.values())
        victims = []
        for model in idle:
            expired = now - model.last_used > self.settings.model_idle_ttl_seconds
            if expired or total > budget:
                victims.append(model.spec.id)
                total -= model.memory_bytes
        return [model_id for model_id in victims if self.unload(model_id)]

    def status(self, model_id: str) -> ModelStatus:
        """Whether a model is loaded, its accounted memory and when it was last used."""
        with self._state_lock:
            model = self._loaded.get(model_id)
        if model is None:
            return ModelStatus(False, 0, None)
        return ModelStatus(True, model.memory_bytes, model.last_used)

    @property
    def memory_bytes(self) -> int:
        """Accounted memory of every loaded model."""
        with self._state_lock:
            return sum(m.memory_bytes for m in self._loaded.values())

    # -- execution ----------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` in the inference pool; ``Overloaded`` if the queue is full."""
        if not self._slots.acquire(blocking=False):
            QUEUE_REFUSALS.labels("inference").inc()
            raise Overloaded(
                "The server is busy: every inference thread and queue place is taken "
                "(TYMPAN_INFERENCE_THREADS + TYMPAN_INFERENCE_QUEUE_SIZE); retry shortly.",
                retry_after=1.0,
            )
        try:
            # Bound to the request: its deadline follows it, and abandoned work never starts.
            call = functools.partial(bind_to_request(fn), *args, **kwargs)
            future = self._executor.submit(call)
        except BaseException:
            self._slots.release()
            raise
        # Released when the thread ends, not when the caller stops waiting: a cancelled
        # await leaves the thread running, and its slot must stay taken until then.
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def served_remotely(self, model_id: str, task: str | None = None) -> bool:
        """Whether ``infer`` calls of this model go to replicas (Ray) rather than the pool."""
        if self.remote is None:
            return False
        return self.remote.serves(self.registry.get(model_id, task=task))

    async def infer(
        self,
        model_id: str,
        fn: Callable[..., T],
        /,
        *args: Any,
        task: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Run ``fn(handle, *args, **kwargs)`` with model ``model_id`` leased, in the pool (or
        by one of its replicas, when ``remote`` serves it)."""
        if self.remote is not None:
            spec = self.registry.get(model_id, task=task)
            if self.remote.serves(spec):
                started = time.perf_counter()
                try:
                    return await self.remote.infer(spec, fn, *args, **kwargs)
                finally:
                    seconds = time.perf_counter() - started
                    INFERENCE_SECONDS.labels(spec.task, spec.id).observe(seconds)

        def call() -> T:
            with self.use(model_id, task=task) as model:
                started = time.perf_counter()
                try:
                    return fn(model.handle, *args, **kwargs)
                finally:
                    seconds = time.perf_counter() - started
                    INFERENCE_SECONDS.labels(model.spec.task, model.spec.id).observe(seconds)

        return await self.run(call)

    def parallel_calls(self, model_id: str) -> int:
        """Batches of ``model_id`` worth running at once: one here (a batch already uses every
        core it is given), two per replica when ``remote`` serves it."""
        spec = self.registry.get(model_id)
        if self.remote is not None and self.remote.serves(spec):
            return self.remote.parallel_calls(spec.id)
        return 1

    def close(self) -> None:
        """Stop the pool, drop every model and remove the replicas this process deployed."""
        if self.remote is not None:
            self.remote.close()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._state_lock:
            self._loaded.clear()
