"""Traces over OTLP/HTTP: a real server sends a transcription's spans to a real receiver.

The receiver is a small ``http.server`` on loopback that accepts ``POST /v1/traces`` and
parses each body as OTLP's ``ExportTraceServiceRequest``, as a Collector, Jaeger or Tempo do.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread
from tympan.api.app import create_app
from tympan.api.traces import RequestSpans

SENTENCE = EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac"
ROUTE = "/v1/audio/transcriptions"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    service: str


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value"))


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on a free loopback port; ``spans`` is what it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ExportHandler)
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def collect(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.start_time_unix_nano,
                            span.end_time_unix_nano,
                            {a.key: _value(a.value) for a in span.attributes},
                            resource["service.name"],
                        )
                    )
        with self.lock:
            self.spans.extend(received)


class _ExportHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(404)
            return
        self.server.collect(body)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def transcribe(url: str, **headers: str) -> httpx.Response:
    with SENTENCE.open("rb") as audio:
        return httpx.post(
            url + ROUTE,
            files={"file": (SENTENCE.name, audio, "audio/flac")},
            data={"model": "tiny.en"},
            headers=headers,
            timeout=120,
        )


def test_a_transcription_is_traced_through_its_stages(tmp_path: Path) -> None:
    with receiver() as collector:
        settings = make_settings(
            tmp_path, otlp_endpoint=collector.endpoint, otlp_service_name="tympan-test"
        )
        app = create_app(settings)
        with serve_in_thread(settings, app=app) as url:
            traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
            response = transcribe(url, traceparent=traceparent)
            assert response.status_code == 200, response.text
            assert "Printing" in response.json()["text"]
            request_id = response.headers["x-request-id"]
            # The server span ends after the last byte is sent: flush until it has arrived.
            deadline = time.monotonic() + 10
            while not any(s.name == f"POST {ROUTE}" for s in collector.spans):
                assert time.monotonic() < deadline, "the server span never arrived"
                assert app.state.tracing.flush()
                time.sleep(0.05)

    spans = {s.span_id: s for s in collector.spans}
    [server] = [s for s in spans.values() if s.name == f"POST {ROUTE}"]
    assert server.service == "tympan-test"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == ROUTE
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["tympan.request_id"] == request_id
    # The caller's traceparent: the request joins the caller's trace under its span.
    assert (server.trace_id, server.parent_id) == (CALLER_TRACE, CALLER_SPAN)

    def chain(span: ReceivedSpan) -> list[str]:
        """The names from ``span`` up to the root of what we sent."""
        names = [span.name]
        while span.parent_id in spans:
            span = spans[span.parent_id]
            names.append(span.name)
        return names

    stages = {name: [s for s in spans.values() if s.name == name] for name in _STAGES}
    for name, found in stages.items():
        assert found, f"no {name} span"
        for stage in found:
            assert stage.trace_id == server.trace_id
            assert chain(stage)[-1] == server.name, chain(stage)
            assert stage.end_ns > stage.start_ns
            assert server.start_ns <= stage.start_ns and stage.end_ns <= server.end_ns
    assert stages["vad"][0].attributes["tympan.chunks"] == len(stages["queue"]) == 1
    assert stages["inference"][0].attributes["tympan.batch_size"] == 1
    assert stages["inference"][0].attributes["tympan.queue"] == "asr:whisper-tiny.en"
    assert stages["decode"][0].attributes["tympan.audio_seconds"] > 9
    # In order: decode, then vad, then the wait in the queue, the batch, the answer.
    order = [stages[name][0] for name in _STAGES]
    assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(order))


_STAGES = ("decode", "vad", "queue", "inference", "respond")


def test_without_an_endpoint_nothing_traces(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.otlp_endpoint == ""
    app = create_app(settings)
    assert all(m.cls is not RequestSpans for m in app.user_middleware)
    with serve_in_thread(settings, app=app) as url:
        assert getattr(app.state, "tracing", None) is None
        response = transcribe(url)
    assert response.status_code == 200
    assert "Printing" in response.json()["text"]


def test_a_collector_that_is_down_fails_no_request(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(tmp_path, otlp_endpoint=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    with serve_in_thread(settings, app=app) as url:
        for _ in range(2):
            response = transcribe(url)
            assert response.status_code == 200
            assert "Printing" in response.json()["text"]
        stopping = time.monotonic()
    # Shutdown tries to send the spans, then gives up on the collector instead of hanging.
    assert time.monotonic() - stopping < 15


@pytest.mark.parametrize("endpoint", ["127.0.0.1:4318", "grpc://collector:4317"])
def test_an_endpoint_must_be_an_http_url(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ValueError, match="TYMPAN_OTLP_ENDPOINT"):
        make_settings(tmp_path, otlp_endpoint=endpoint)
