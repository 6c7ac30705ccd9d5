"""``RayTasks``: long task functions (classifier training) as Ray tasks, progress relayed back.

Layer: serving (built by ``api/services.py`` beside ``RayModels`` when ``TYMPAN_RAY_ADDRESS``
is set; the embedded path never imports it).

The job runner stays the one path: a job's thread still owns the job row, renews its lease and
publishes what the work produced. What moves is one call: ``run(fn, *args, progress=...)``
sends ``fn(*args, progress=relay)`` to a Ray task that reserves ``num_cpus`` on any node, and
the job's thread waits for it.

Progress: the task's ``relay`` puts ``(fraction, message)`` on a ``ray.util.queue.Queue`` (a
0-CPU actor) and the waiting thread drains it every ``POLL_SECONDS`` into the job's own
progress callback. It is the simplest shape that keeps one writer of the job row (the API
process, which has the database): a progress actor would be the same queue written by hand,
and a task that wrote the row itself would need database access from every node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import ray
from ray.exceptions import RayTaskError
from ray.util.queue import Queue

from tympan.store.jobs import Progress

__all__ = ["POLL_SECONDS", "RayTasks"]

T = TypeVar("T")
POLL_SECONDS = 0.2


@ray.remote(max_retries=0)  # a crashed run fails its job (submit again), as embedded
def _call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], queue: Queue) -> T:
    def relay(fraction: float, message: str) -> None:
        queue.put_nowait((fraction, message))

    return fn(*args, progress=relay, **kwargs)


class RayTasks:
    """Runs a function as a Ray task on the cluster ``RayModels.connect`` joined."""

    def run(
        self, fn: Callable[..., T], /, *args: Any, num_cpus: int, progress: Progress, **kwargs: Any
    ) -> T:
        """``fn(*args, progress=..., **kwargs)`` in a Ray task, blocking until it ends; its
        progress reaches ``progress`` here, its exception is raised here as if it ran here."""
        queue = Queue(actor_options={"num_cpus": 0})
        try:
            ref = _call.options(num_cpus=num_cpus).remote(fn, args, kwargs, queue)
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
                waiting = queue.qsize()
                if waiting:  # only the newest report matters
                    fraction, message = queue.get_nowait_batch(waiting)[-1]
                    progress(fraction, message)
                if ready:
                    break
            try:
                return ray.get(ref)
            except RayTaskError as exc:  # the function's own error
                cause = exc.cause
                raise (cause if isinstance(cause, BaseException) else exc) from None
        finally:
            ray.kill(queue.actor)
