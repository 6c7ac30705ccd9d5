"""OpenAI's 2026 audio file API with the official ``openai`` Node client, against a real server.

One Node process sends every request (the client's own multipart encoding, array fields and
SSE parsing): model names that route by language, translation with ``whisper-1``, diarization
with ``known_speaker_references``, streamed log-probabilities, and two refusals that must come
back as the client's ``BadRequestError`` with status 400, as OpenAI answers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.api.routers.test_asr import LJ, LJ_ROWS, error_rate
from tests.api.routers.test_asr_openai import SAMPLE, agreement, clip_url
from tests.conftest import EVAL_DIR, make_settings, read_manifest
from tests.live_server import serve_in_thread
from tests.node_client import node_script, run_node

MULTILINGUAL = {row["language"]: row for row in read_manifest("multilingual")}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Each request's answer (``result`` or ``error``), by name."""
    french, german = MULTILINGUAL["fr"], MULTILINGUAL["de"]
    requests = {
        "french": {
            "endpoint": "transcriptions",
            "file": str(EVAL_DIR / "multilingual" / french["audio"]),
            "params": {"model": "gpt-4o-mini-transcribe", "response_format": "verbose_json"},
        },
        "translation": {
            "endpoint": "translations",
            "file": str(EVAL_DIR / "multilingual" / german["audio"]),
            "params": {"model": "whisper-1"},
        },
        "diarized": {
            "endpoint": "transcriptions",
            "file": str(SAMPLE),
            "params": {
                "model": "gpt-4o-transcribe-diarize",
                "response_format": "diarized_json",
                "chunking_strategy": "auto",
                "known_speaker_names": ["Diane", "Sheila"],
                "known_speaker_references": [
                    clip_url(SAMPLE, 10.6, 14.4),
                    clip_url(SAMPLE, 22.0, 28.0),
                ],
            },
        },
        "streamed": {
            "endpoint": "transcriptions",
            "file": str(LJ / LJ_ROWS[0]["audio"]),
            "params": {"model": "gpt-4o-transcribe", "stream": True, "include": ["logprobs"]},
        },
        "bad_temperature": {
            "endpoint": "transcriptions",
            "file": str(LJ / LJ_ROWS[0]["audio"]),
            "params": {"model": "whisper-1", "temperature": 5},
        },
        "not_audio": {
            "endpoint": "transcriptions",
            "file": str(EVAL_DIR / "bad_inputs" / "image_named.flac"),
            "params": {"model": "whisper-1"},
        },
    }
    folder = tmp_path_factory.mktemp("node-audio")
    requests_file = folder / "requests.json"
    requests_file.write_text(json.dumps(requests))
    with serve_in_thread(make_settings(folder)) as url:
        lines = run_node(node_script("audio_requests.mjs"), f"{url}/v1", str(requests_file))
    yield {line["name"]: line for line in lines}


def test_openai_model_names_route_french_to_the_multilingual_model(answers) -> None:
    result = answers["french"]["result"]
    assert result["language"] == "french" and result["language_probability"] > 0.5
    assert result["segments"] and result["duration"] > 0
    words = set(MULTILINGUAL["fr"]["text"].lower().split())
    assert len(words & set(result["text"].lower().split())) >= 0.5 * len(words), result["text"]


def test_whisper_1_translates_german_to_english(answers) -> None:
    text = answers["translation"]["result"]["text"]
    reference = {w for w in MULTILINGUAL["de"]["english"].lower().split() if len(w) > 3}
    assert len(reference & set(text.lower().split())) >= 0.3 * len(reference), text


def test_known_speaker_references_name_the_speakers_of_a_diarized_json(answers) -> None:
    result = answers["diarized"]["result"]
    assert result["task"] == "transcribe" and result["usage"]["type"] == "duration"
    assert {segment["type"] for segment in result["segments"]} == {"transcript.text.segment"}
    assert {segment["speaker"] for segment in result["segments"]} == {"Diane", "Sheila"}
    segments = [SimpleNamespace(**row) for row in result["segments"]]
    assert agreement(segments, {"speaker90": "Diane", "speaker91": "Sheila"}) > 0.8


def test_streamed_deltas_and_done_carry_logprobs(answers) -> None:
    events = answers["streamed"]["result"]
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds
    assert error_rate(LJ_ROWS[0]["text"], events[-1]["text"]) < 0.15
    assert all(item["logprob"] <= 0 for item in events[-1]["logprobs"])
    spelled = "".join(item["token"] for item in events[-1]["logprobs"])
    assert spelled.split() == events[-1]["text"].split()


@pytest.mark.parametrize(
    ("name", "param"), [("bad_temperature", "temperature"), ("not_audio", "file")]
)
def test_refusals_are_the_clients_bad_request_error(answers, name: str, param: str) -> None:
    error = answers[name]["error"]
    assert (error["status"], error["class"]) == (400, "BadRequestError")
    assert error["body"]["param"] == param and error["body"]["message"]
