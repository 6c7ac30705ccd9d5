"""``GET /metrics``: scraped with prometheus-client's own parser after real requests."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.conftest import EVAL_DIR, make_settings
from tympan.audio import decode_audio
from tympan.client import Client
from tympan.errors import AuthenticationFailed, InvalidAudio
from tympan.store.db import Database

CLIP = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
ROUTE = "/v1/audio/transcriptions"
MODEL = "whisper-tiny.en"  # the id behind the name "tiny.en"
MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring"


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` as {(name, sorted labels): value}."""
    response = client.request("GET", "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.in_process(make_settings(tmp_path_factory.mktemp("metrics"))) as client:
        yield client


def test_a_transcription_moves_requests_audio_batches_and_models(client: Client) -> None:
    before = scrape(client)
    text = client.transcribe(CLIP, model="tiny.en").text
    assert "comparatively modern" in text.lower()
    after = scrape(client)
    ok = {"route": ROUTE, "method": "POST", "status": "200"}
    assert (
        value(after, "tympan_requests_total", **ok) - value(before, "tympan_requests_total", **ok)
        == 1
    )
    timed = {"route": ROUTE, "method": "POST"}
    assert (
        value(after, "tympan_request_seconds_count", **timed)
        - value(before, "tympan_request_seconds_count", **timed)
        == 1
    )
    seconds = decode_audio(CLIP).duration
    decoded = value(after, "tympan_audio_seconds_total", route=ROUTE) - value(
        before, "tympan_audio_seconds_total", route=ROUTE
    )
    assert decoded == pytest.approx(seconds, abs=0.01)
    transcribed = value(after, "tympan_asr_audio_seconds_total", model=MODEL) - value(
        before, "tympan_asr_audio_seconds_total", model=MODEL
    )
    assert seconds - 0.01 <= transcribed <= seconds + 30  # short chunks are padded, never cut
    batches = value(after, "tympan_batch_size_count", queue=f"asr:{MODEL}") - value(
        before, "tympan_batch_size_count", queue=f"asr:{MODEL}"
    )
    assert batches >= 1
    inference = value(after, "tympan_inference_seconds_sum", task="asr", model=MODEL)
    assert inference > value(before, "tympan_inference_seconds_sum", task="asr", model=MODEL)
    assert value(after, "tympan_model_loaded", model=MODEL, task="asr") == 1
    assert value(after, "tympan_model_memory_bytes", model=MODEL, task="asr") > 0
    assert value(after, "tympan_model_loads_total", model=MODEL) >= 1


def test_refusals_and_unknown_routes_are_counted_with_their_status(client: Client) -> None:
    before = scrape(client)
    with pytest.raises(InvalidAudio):
        client.transcribe(EVAL_DIR / "bad_inputs" / "truncated.flac", model="tiny.en")
    assert client._http.get("/v1/no/such/route").status_code == 404
    after = scrape(client)
    bad = {"route": ROUTE, "method": "POST", "status": "400"}
    assert (
        value(after, "tympan_requests_total", **bad) - value(before, "tympan_requests_total", **bad)
        == 1
    )
    lost = {"route": "unmatched", "method": "GET", "status": "404"}
    assert (
        value(after, "tympan_requests_total", **lost)
        - value(before, "tympan_requests_total", **lost)
        == 1
    )


def test_model_unloads_and_live_sessions_show(client: Client) -> None:
    client.load_model("silero-vad")
    before = scrape(client)
    client.unload_model("silero-vad")
    middle = scrape(client)
    assert value(middle, "tympan_model_loaded", model="silero-vad", task="vad") == 0
    assert (
        value(middle, "tympan_model_unloads_total", model="silero-vad")
        - value(before, "tympan_model_unloads_total", model="silero-vad")
        == 1
    )
    base = value(middle, "tympan_live_sessions")
    with client._http.websocket_connect("/v1/realtime?intent=transcription") as ws:  # type: ignore[attr-defined]
        assert ws.receive_json()["type"] == "session.created"
        assert value(scrape(client), "tympan_live_sessions") == base + 1
    # The server notices the close at its next read; the gauge comes back down.
    for _ in range(50):
        if value(scrape(client), "tympan_live_sessions") == base:
            break
        time.sleep(0.1)
    assert value(scrape(client), "tympan_live_sessions") == base
    jobs = client.request("GET", "/metrics").text
    assert "# TYPE tympan_jobs gauge" in jobs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_need_a_key_on_the_api_port_and_none_on_the_metrics_port(tmp_path) -> None:
    port = _free_port()
    settings = make_settings(tmp_path, api_keys="admin-key,reader:read", metrics_port=port)
    with Client.in_process(settings) as anonymous:
        with pytest.raises(AuthenticationFailed):
            anonymous.request("GET", "/metrics")
        reader = anonymous._http.get("/metrics", headers={"Authorization": "Bearer reader"})
        assert reader.status_code == 200 and "tympan_requests_total" in reader.text
        exported = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert exported.status_code == 200
        families = {f.name for f in text_string_to_metric_families(exported.text)}
        assert {"tympan_requests", "tympan_model_loaded", "tympan_jobs"} <= families


def exposed_names(client: Client) -> set[str]:
    """Every series name ``/metrics`` can hold, children or not (``_total``, ``_bucket``...)."""
    families = text_string_to_metric_families(client.request("GET", "/metrics").text)
    suffixes = ("", "_total", "_bucket", "_count", "_sum", "_created")
    return {family.name + suffix for family in families for suffix in suffixes}


def series_in(expression: str) -> set[str]:
    return set(re.findall(r"\btympan_[a-z_]+", expression))


def test_alert_rules_parse_and_name_only_exposed_series(client: Client) -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    names = exposed_names(client)
    assert {"TympanHighErrorRate", "TympanSlowTranscriptions", "TympanQueueSaturated"} <= {
        rule["alert"] for rule in rules
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "warn"}
        assert rule["annotations"]["summary"]
        used = series_in(rule["expr"])
        assert used and used <= names, (rule["alert"], used - names)
        assert rule["expr"].count("(") == rule["expr"].count(")")


def test_grafana_dashboard_parses_and_names_only_exposed_series(client: Client) -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    names = exposed_names(client)
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) == len(dashboard["panels"]) >= 10
    used = set().union(*(series_in(expression) for expression in expressions))
    assert used <= names, used - names
    assert {"tympan_requests_total", "tympan_request_seconds_bucket", "tympan_jobs"} <= used


def test_database_errors_are_counted_by_kind(client: Client, tmp_path: Path) -> None:
    """A statement the database refuses shows in ``tympan_database_errors_total``."""
    before = value(scrape(client), "tympan_database_errors_total", kind="OperationalError")
    database = Database(f"sqlite:///{tmp_path / 'broken.db'}")
    try:
        with pytest.raises(OperationalError), database.session() as session:
            session.execute(text("SELECT * FROM no_such_table"))
    finally:
        database.close()
    after = value(scrape(client), "tympan_database_errors_total", kind="OperationalError")
    assert after == before + 1
