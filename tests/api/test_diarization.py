"""``POST /v1/audio/diarization``: turns as JSON or RTTM, enrolled speakers named."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tests.speaker_data import DIARIZATION_DIR, SAMPLE_TURNS, write_spans
from tympan.client import Client
from tympan.errors import ModelNotFound

SAMPLE = DIARIZATION_DIR / "sample.wav"


def test_json_and_rttm(api: Client) -> None:
    result = api.diarize(SAMPLE, identify=False)
    assert result.num_speakers == 2 and result.duration == 30.0
    assert all(t.name is None and t.speaker.startswith("SPEAKER_") for t in result.segments)
    rttm = api.diarize_rttm(SAMPLE, num_speakers=2)
    lines = rttm.splitlines()
    assert lines and all(line.startswith("SPEAKER sample 1 ") for line in lines)
    assert {line.split()[7] for line in lines} == {"SPEAKER_00", "SPEAKER_01"}


def test_speaker_counts_are_honoured(api: Client) -> None:
    assert api.diarize(SAMPLE, num_speakers=3, identify=False).num_speakers == 3
    assert api.diarize(SAMPLE, max_speakers=1, identify=False).num_speakers == 1
    spectral = api.diarize(SAMPLE, clustering="spectral", min_speakers=2, identify=False)
    assert spectral.num_speakers >= 2


def test_enrolled_speakers_are_named(api: Client, tmp_path: Path) -> None:
    enrolled = {
        name: api.enroll_speaker(
            f"{name} (sample)", write_spans(SAMPLE, spans, tmp_path / f"{name}.wav")
        )
        for name, spans in SAMPLE_TURNS.items()
    }
    try:
        result = api.diarize(SAMPLE)
        named = {s.name: s for s in result.speakers}
        assert set(named) == {"Diane (sample)", "Sheila (sample)"}
        for name, time in (("Diane", 12.5), ("Sheila", 25.0)):
            turn = next(t for t in result.segments if t.start <= time < t.end)
            assert turn.name == f"{name} (sample)" and turn.speaker_id == enrolled[name].id
        rttm = api.diarize_rttm(SAMPLE)
        assert " Diane_(sample) " in rttm and " Sheila_(sample) " in rttm
    finally:
        for speaker in enrolled.values():
            api.delete_speaker(speaker.id)
    assert all(s.name is None for s in api.diarize(SAMPLE).speakers)


@pytest.mark.parametrize(
    "fields",
    [
        {"num_speakers": "0"},
        {"max_speakers": "51"},
        {"min_speakers": "3", "max_speakers": "2"},
        {"num_speakers": "4", "max_speakers": "2"},
        {"response_format": "srt"},
        {"clustering": "kmeans"},
        {"threshold": "2"},
        {"num_speakers": "two"},
    ],
)
def test_bad_parameters(api: Client, fields: dict) -> None:
    response = api._http.post(
        "/v1/audio/diarization", files={"file": ("s.wav", SAMPLE.read_bytes())}, data=fields
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_unknown_model(api: Client) -> None:
    with pytest.raises(ModelNotFound):
        api.diarize(SAMPLE, model="nope")


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs(api: Client, case: dict) -> None:
    check_bad_audio(api, "/v1/audio/diarization", case)
    check_bad_audio(api, "/v1/audio/diarization", case, {"response_format": "rttm"})
