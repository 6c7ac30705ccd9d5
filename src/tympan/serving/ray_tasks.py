"""``RayTasks``: long task functions (training) as Ray tasks, progress relayed back, stoppable.

Layer: serving (built by ``api/services.py`` beside ``RayModels`` when ``TYMPAN_RAY_ADDRESS``
is set; the embedded path never imports it).

The job runner stays the one path: a job's thread still owns the job row, renews its lease and
publishes what the work produced. What moves is one call: ``run(fn, *args, progress=...)``
sends ``fn(*args, progress=relay)`` to a Ray task that reserves ``num_cpus`` on any node, and
the job's thread waits for it.

Progress: the task's ``relay`` puts each report (whatever arguments ``fn`` calls ``progress``
with) on a ``ray.util.queue.Queue`` (a 0-CPU actor) and the waiting thread drains it every
``POLL_SECONDS`` into the job's own callback, in order: a fine-tuning job records every step's
metrics as an event. It is the simplest shape that keeps one writer of the job row (the API
process, which has the database): a task that wrote the row itself would need database access
from every node.

Stopping: with ``should_stop`` (the job's own check, which asks the database), the waiting
thread asks it on each poll and, once it is true, raises a flag the task's ``should_stop``
reads, so the function stops at its next check as it would here (``JobCancelled``). If the
waiting thread itself ends early, the task is cancelled outright.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import ray
from ray.exceptions import RayTaskError
from ray.util.queue import Queue

from tympan.store.jobs import sticky_check

__all__ = ["POLL_SECONDS", "RayTasks"]

T = TypeVar("T")
POLL_SECONDS = 0.2
STOP_CHECK_SECONDS = 1.0  # how often the task asks for the stop flag (an actor call)


@ray.remote(max_retries=0)  # a crashed run fails its job (submit again), as embedded
def _call(
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    reports: Queue,
    stop: Queue | None,
) -> T:
    def relay(*report: Any) -> None:
        reports.put_nowait(report)

    if stop is not None:
        flag = sticky_check(lambda: stop.qsize() > 0, STOP_CHECK_SECONDS)
        kwargs = {**kwargs, "should_stop": flag}
    return fn(*args, progress=relay, **kwargs)


class RayTasks:
    """Runs a function as a Ray task on the cluster ``RayModels.connect`` joined."""

    def run(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        num_cpus: int,
        progress: Callable[..., None],
        should_stop: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, progress=..., **kwargs)`` in a Ray task, blocking until it ends; each
        of its progress reports reaches ``progress`` here, its exception is raised here as if
        it ran here. With ``should_stop``, ``fn`` also gets a ``should_stop`` that turns true
        when this one does."""
        reports = Queue(actor_options={"num_cpus": 0})
        stop = Queue(actor_options={"num_cpus": 0}) if should_stop is not None else None
        ref = None
        try:
            ref = _call.options(num_cpus=num_cpus).remote(fn, args, kwargs, reports, stop)
            stopping = False
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
                waiting = reports.qsize()
                if waiting:
                    for report in reports.get_nowait_batch(waiting):
                        progress(*report)
                if ready:
                    break
                if stop is not None and not stopping and should_stop():  # type: ignore[misc]
                    stop.put_nowait(True)
                    stopping = True
            try:
                return ray.get(ref)
            except RayTaskError as exc:  # the function's own error
                cause = exc.cause
                raise (cause if isinstance(cause, BaseException) else exc) from None
        except BaseException:
            if ref is not None:
                ray.cancel(ref)  # a no-op when it already ended
            raise
        finally:
            for queue in (reports, stop):
                if queue is not None:
                    ray.kill(queue.actor)
