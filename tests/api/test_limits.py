"""The limit middleware: JSON bodies refused before parsing; work past its deadline or whose
client disconnected stops (in the inference thread, at its next block)."""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import EVAL_DIR, make_settings, services_of
from tests.live_server import serve_in_thread
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.client import Client
from tympan.config import SAMPLE_RATE
from tympan.tasks.vad import SILERO_MODEL_ID

# A slow but small request: zero-crossing rate of 2 min with 16384-sample frames every 16
# samples computes for many seconds, in blocks, but answers only 120,000 values.
SLOW_FIELDS = {"kind": "zcr", "n_fft": "16384", "hop_length": "16", "format": "npy"}
STOPPED = "request work stopped"


@pytest.fixture(scope="module")
def two_minutes() -> bytes:
    audio = decode_audio(EVAL_DIR / "diarization" / "sample.wav")
    samples = np.tile(audio.samples, int(np.ceil(120 / audio.duration)))[: 120 * SAMPLE_RATE]
    return encode_audio(samples, SAMPLE_RATE, "wav")


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _wait_for(caplog: pytest.LogCaptureFixture, text: str, seconds: float) -> bool:
    return _until(lambda: any(text in record.getMessage() for record in caplog.records), seconds)


def _computing_features() -> bool:
    """Whether some thread of this process is inside the features' block loop right now."""
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_name == "_blockwise":
                return True
            frame = frame.f_back
    return False


# -- JSON bodies -----------------------------------------------------------------------------


def _chunks(body: bytes) -> Iterator[bytes]:
    yield from (body[i : i + 65536] for i in range(0, len(body), 65536))


@pytest.mark.parametrize("chunked", [False, True])
def test_json_body_over_the_limit_is_refused_before_parsing(tmp_path: Path, chunked) -> None:
    with Client.in_process(make_settings(tmp_path, max_json_bytes=1000)) as small:
        body = b'{"input": "' + b"a" * 2000 + b'"}'
        response = small._http.post(
            "/v1/audio/speech",
            content=_chunks(body) if chunked else body,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "budget_exceeded" and error["param"] == "body"
        assert "TYMPAN_MAX_JSON_BYTES" in error["message"]
        inside = small._http.post("/v1/audio/speech", json={"input": " "})
        assert inside.status_code == 400 and inside.json()["error"]["code"] == "empty_input"
        assert small.health()["status"] == "ok"


def test_url_encoded_body_is_held_to_the_json_limit(tmp_path: Path) -> None:
    with Client.in_process(make_settings(tmp_path, max_json_bytes=1000)) as small:
        response = small._http.post("/v1/audio/vad", data={"method": "x" * 5000})
        assert response.status_code == 413 and "TYMPAN_MAX_JSON_BYTES" in response.text


# -- deadlines -------------------------------------------------------------------------------


def test_request_past_its_time_limit_gets_503_and_its_work_stops(
    tmp_path: Path, two_minutes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tympan.deadlines")
    settings = make_settings(tmp_path, request_timeout_seconds=1.0, inference_threads=1)
    with Client.in_process(settings) as client:
        # Silero loaded beforehand: its load would count against the later VAD request's 1 s.
        with services_of(client).manager.use(SILERO_MODEL_ID):
            pass
        started = time.monotonic()
        response = client._http.post(
            "/v1/audio/features", files={"file": ("long.wav", two_minutes)}, data=SLOW_FIELDS
        )
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < 30
        error = response.json()["error"]
        assert error["code"] == "deadline_exceeded" and response.headers["Retry-After"] == "1"
        assert "TYMPAN_REQUEST_TIMEOUT_SECONDS" in error["message"]
        # Stopped at its next block (or never started, if decoding took all the time).
        assert _until(lambda: not _computing_features(), 10), "the work went on"
        answer = client.post_audio("/v1/audio/vad", EVAL_DIR / "bad_inputs" / "speech.ogg", {})
        assert answer.json()["segments"]


def test_work_of_a_client_that_disconnected_stops(
    tmp_path: Path, two_minutes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tympan.deadlines")
    with serve_in_thread(make_settings(tmp_path)) as url:
        request = httpx.Request(
            "POST",
            f"{url}/v1/audio/features",
            files={"file": ("long.wav", two_minutes)},
            data=SLOW_FIELDS,
        )
        body = request.read()
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(f"POST /v1/audio/features HTTP/1.1\r\n{head}\r\n".encode() + body)
            assert _until(_computing_features, 60), "the work did not start"
            assert not any(STOPPED in r.getMessage() for r in caplog.records)
        assert _wait_for(caplog, "client disconnected", 30), "abandoned work went on"
        assert _until(lambda: not _computing_features(), 10)
        health = httpx.get(f"{url}/healthz", timeout=30)
        assert health.status_code == 200
