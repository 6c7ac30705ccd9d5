"""The current request: its id, bound for a block and carried by the job store into the jobs it
starts; its spans, inert unless a tracer is bound, following the work into threads."""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tympan.store import Database
from tympan.store.jobs import JobRunner
from tympan.tracing import (
    bound_request_id,
    bound_tracer,
    current_request_id,
    shared_span,
    span,
    start_span,
)


def test_an_id_is_bound_only_inside_its_block() -> None:
    assert current_request_id() is None
    with bound_request_id("outer"):
        with bound_request_id("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
    assert current_request_id() is None


def test_a_job_started_in_a_request_keeps_its_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.upgrade()
    runner = JobRunner(database, tmp_path / "work")
    try:
        with caplog.at_level(logging.INFO, logger="tympan.store.jobs"), bound_request_id("req-7"):
            traced = runner.submit("demo", lambda progress: {"ok": True}, {"x": 1})
        untraced = runner.submit("demo", lambda progress: {"ok": True}, {"x": 1})
        assert runner.wait(traced.id, timeout=10).params == {"x": 1, "request_id": "req-7"}
        assert runner.wait(untraced.id, timeout=10).params == {"x": 1}
        assert f"job {traced.id} (demo) submitted, request_id=req-7" in caplog.text
    finally:
        runner.close()
        database.close()


def test_spans_are_inert_outside_a_traced_request() -> None:
    with span("vad", chunks=1) as stage:
        stage.set(chunks=2)
    waiting = start_span("queue")
    waiting.end()
    assert waiting.parent is None
    with shared_span("inference", [waiting.parent, None]):
        pass


def test_a_span_in_a_thread_is_a_child_of_the_span_that_handed_it_work() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with (
        bound_tracer(tracer),
        span("request") as request,
        ThreadPoolExecutor(1) as pool,
    ):
        request.set(request_id="r1")

        def work() -> None:
            with span("decode", audio_seconds=1.5):
                pass

        pool.submit(contextvars.copy_context().run, work).result(timeout=10)
    with span("after"):  # the tracer is unbound again
        pass
    decode, outer = exporter.get_finished_spans()
    assert (decode.name, outer.name) == ("decode", "request")
    assert decode.parent is not None and decode.parent.span_id == outer.context.span_id
    assert decode.attributes == {"tympan.audio_seconds": 1.5}
    assert outer.attributes == {"tympan.request_id": "r1"}
