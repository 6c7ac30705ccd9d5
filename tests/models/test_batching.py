"""BatchQueue: concurrent submissions become batches; results and errors reach their callers."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tympan.errors import Overloaded
from tympan.models.batching import BatchQueue
from tympan.tracing import bound_tracer, span


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_concurrent_items_share_batches_and_keep_their_results() -> None:
    seen: list[list[int]] = []

    async def square_all(items: list[int]) -> list[int]:
        seen.append(list(items))
        await asyncio.sleep(0.01)
        return [item * item for item in items]

    async def main() -> list[int]:
        queue = BatchQueue(square_all, max_batch=4, max_wait=0.02)
        return await asyncio.gather(*(queue.submit(n) for n in range(10)))

    assert _run(main()) == [n * n for n in range(10)]
    assert [len(batch) for batch in seen] == [4, 4, 2]
    assert sorted(n for batch in seen for n in batch) == list(range(10))


def test_items_arriving_while_a_batch_runs_form_the_next_batch() -> None:
    sizes: list[int] = []

    async def slow(items: list[str]) -> list[str]:
        sizes.append(len(items))
        await asyncio.sleep(0.05)
        return [item.upper() for item in items]

    async def main() -> list[str]:
        queue = BatchQueue(slow, max_batch=8, max_wait=0.0)
        first = asyncio.create_task(queue.submit("a"))
        await asyncio.sleep(0.01)  # "a" is running alone; these three wait together
        rest = [asyncio.create_task(queue.submit(x)) for x in "bcd"]
        return await asyncio.gather(first, *rest)

    assert _run(main()) == ["A", "B", "C", "D"]
    assert sizes == [1, 3]


def test_an_item_error_fails_only_its_caller() -> None:
    async def invert(items: list[float]) -> list[float | BaseException]:
        return [ZeroDivisionError("zero") if x == 0 else 1 / x for x in items]

    async def main() -> list[object]:
        queue = BatchQueue(invert, max_batch=8, max_wait=0.01)
        return await asyncio.gather(
            *(queue.submit(x) for x in (2.0, 0.0, 4.0)), return_exceptions=True
        )

    first, second, third = _run(main())
    assert (first, third) == (0.5, 0.25)
    assert isinstance(second, ZeroDivisionError)


def test_a_failing_batch_fails_every_caller_and_the_queue_recovers() -> None:
    calls = 0

    async def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("backend down")
        return items

    async def main() -> tuple[list[object], int]:
        queue = BatchQueue(flaky, max_batch=8, max_wait=0.01)
        failed = await asyncio.gather(queue.submit(1), queue.submit(2), return_exceptions=True)
        return failed, await queue.submit(3)

    failed, later = _run(main())
    assert all(isinstance(error, RuntimeError) for error in failed)
    assert later == 3


def test_cancelled_callers_are_left_out_of_the_batch() -> None:
    batches: list[list[int]] = []

    async def record(items: list[int]) -> list[int]:
        batches.append(list(items))
        return items

    async def main() -> int:
        queue = BatchQueue(record, max_batch=8, max_wait=0.05)
        doomed = asyncio.create_task(queue.submit(1))
        kept = asyncio.create_task(queue.submit(2))
        await asyncio.sleep(0)
        doomed.cancel()
        return await kept

    assert _run(main()) == 2
    assert batches == [[2]]


def test_max_batch_must_be_positive() -> None:
    async def identity(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError):
        BatchQueue(identity, max_batch=0, max_wait=0.0)


def test_admission_is_bounded_and_refuses_with_retry_after() -> None:
    async def echo(items: list[int]) -> list[int]:
        return items

    async def main() -> None:
        queue = BatchQueue(
            echo, max_batch=4, max_wait=0, name="asr:x", max_callers=2, limit_setting="q_size"
        )
        with queue.admission(), queue.admission():
            assert queue.admitted == 2
            with pytest.raises(Overloaded) as info, queue.admission():
                pass
            assert info.value.status == 503 and info.value.retry_after == 1.0
            assert "TYMPAN_Q_SIZE" in info.value.message
            assert await queue.submit(7) == 7  # admitted callers still submit
        assert queue.admitted == 0
        with queue.admission():  # places free up when callers leave
            assert await queue.submit(8) == 8

    _run(main())


def test_a_cancelled_caller_s_item_is_dropped_not_run() -> None:
    ran: list[int] = []

    async def slow(items: list[int]) -> list[int]:
        ran.extend(items)
        await asyncio.sleep(0.05)
        return items

    async def main() -> None:
        queue = BatchQueue(slow, max_batch=1, max_wait=0)
        first = asyncio.ensure_future(queue.submit(1))
        second = asyncio.ensure_future(queue.submit(2))
        await asyncio.sleep(0.01)  # 1 is running, 2 waits
        second.cancel()
        assert await first == 1
        await asyncio.sleep(0.1)

    _run(main())
    assert ran == [1]


def test_a_batch_shows_in_the_trace_of_each_request_with_items_in_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def double(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return [item * 2 for item in items]

    async def request(queue: BatchQueue[int, int], name: str, items: list[int]) -> list[int]:
        with bound_tracer(provider.get_tracer("test")), span(name):
            return await asyncio.gather(*(queue.submit(item) for item in items))

    async def main() -> list[list[int]]:
        queue = BatchQueue(double, max_batch=8, max_wait=0.02, name="asr:test")
        return await asyncio.gather(request(queue, "a", [1, 2]), request(queue, "b", [3]))

    assert _run(main()) == [[2, 4], [6]]
    spans = exporter.get_finished_spans()
    requests = {s.name: s.context for s in spans if s.name in ("a", "b")}
    for name, context in requests.items():
        mine = [s for s in spans if s.parent and s.parent.span_id == context.span_id]
        assert sorted(s.name for s in mine) == ["inference"] + ["queue"] * (2 if name == "a" else 1)
        [inference] = [s for s in mine if s.name == "inference"]
        assert inference.attributes == {"tympan.queue": "asr:test", "tympan.batch_size": 3}
        assert all(s.context.trace_id == context.trace_id for s in mine)


def test_background_items_run_after_every_waiting_foreground_item_never_beside_one() -> None:
    seen: list[list[str]] = []

    async def record(items: list[str]) -> list[str]:
        seen.append(list(items))
        await asyncio.sleep(0.02)
        return items

    async def main() -> None:
        queue = BatchQueue(record, max_batch=8, max_wait=0.0)
        first = asyncio.create_task(queue.submit("busy"))
        await asyncio.sleep(0.005)  # "busy" runs; the rest wait for it, previews first
        waiting = [asyncio.create_task(queue.submit(p, background=True)) for p in ("p1", "p2")]
        waiting += [asyncio.create_task(queue.submit(f)) for f in ("f1", "f2")]
        await asyncio.sleep(0)
        assert queue.pending == 4 and queue.pending_foreground == 2 and queue.running == 1
        await asyncio.gather(first, *waiting)

    _run(main())
    assert seen == [["busy"], ["f1", "f2"], ["p1", "p2"]]


@pytest.mark.parametrize(("eager", "expected"), [(2, [1, 1, 4]), (1, [1, 5])])
def test_a_batch_behind_every_busy_replica_gathers_until_one_is_free(
    eager: int, expected: list[int]
) -> None:
    """Two places (a replica's running batch and the one waiting behind it): with ``eager``
    1, the waiting batch keeps gathering past ``max_wait`` until the running one ends, so
    items arriving meanwhile join it instead of leaving in a batch of one."""
    sizes: list[int] = []

    async def slow(items: list[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0.4)
        return items

    async def main() -> list[int]:
        queue = BatchQueue(slow, max_batch=8, max_wait=0.01, parallel=2, eager=eager)
        calls = [asyncio.create_task(queue.submit(0))]
        for n in range(1, 6):  # one every 30 ms while the first batch runs
            await asyncio.sleep(0.03)
            calls.append(asyncio.create_task(queue.submit(n)))
        return await asyncio.gather(*calls)

    assert _run(main()) == list(range(6))
    assert sizes == expected
