"""Torch's thread count: overlapping blocks in many threads never leave it changed."""

from __future__ import annotations

import threading

import torch

from tympan.models import threads
from tympan.models.threads import resting_threads, set_resting_threads, torch_threads


def _count_in_new_thread() -> int:
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    return seen[0]


def test_overlapping_blocks_leave_the_resting_count() -> None:
    """A enters, B (a thread started inside A's block) enters, A leaves, B leaves."""
    before = resting_threads()
    set_resting_threads(3)
    try:
        a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()
        seen: dict[str, int] = {}

        def first() -> None:
            with torch_threads(1):
                seen["a"] = torch.get_num_threads()
                a_inside.set()
                b_inside.wait(10)
            a_left.set()

        def second() -> None:
            a_inside.wait(10)
            with torch_threads(1):
                b_inside.set()
                a_left.wait(10)
                seen["b"] = torch.get_num_threads()

        workers = [threading.Thread(target=first), threading.Thread(target=second)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(20)
        # Each block ran with its own count even after the other one left.
        assert seen == {"a": 1, "b": 1}
        # The old pattern (remember, set, restore the remembered) left 1 here for every
        # thread started afterwards: B remembered A's temporary count and restored it last.
        assert _count_in_new_thread() == 3
        assert resting_threads() == 3
    finally:
        set_resting_threads(before)


def test_pinning_gives_a_thread_the_resting_count() -> None:
    before = resting_threads()
    set_resting_threads(2)
    try:
        seen: list[int] = []

        def worker() -> None:
            torch.set_num_threads(1)  # something outside the guard changed it
            threads.pin_resting_threads()
            seen.append(torch.get_num_threads())

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert seen == [2]
    finally:
        set_resting_threads(before)


def test_a_part_pool_runs_parts_side_by_side_in_order_in_the_callers_context():
    import contextvars

    request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")
    request.set("req-1")
    barrier = threading.Barrier(3, timeout=10)  # only three parts running at once pass it

    def part(index: int) -> tuple[int, str, str]:
        barrier.wait()
        return index, request.get(), threading.current_thread().name

    with threads.PartPool(3, "part") as pool:
        results = pool.map(part, [0, 1, 2])
    assert [index for index, _, _ in results] == [0, 1, 2]
    assert {seen for _, seen, _ in results} == {"req-1"}
    assert results[0][2] == threading.current_thread().name  # the first runs in the caller
    assert len({name for _, _, name in results}) == 3
