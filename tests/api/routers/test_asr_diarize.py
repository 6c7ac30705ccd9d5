"""``POST /v1/audio/transcriptions`` with ``diarize=true``: speakers on segments, words, cues."""

from __future__ import annotations

import pytest

from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tests.speaker_data import (
    DIARIZATION_DIR,
    SAMPLE_TURNS,
    read_stm,
    stm_speaker_at,
    write_spans,
)
from tympan.client import Client

SAMPLE = DIARIZATION_DIR / "sample.wav"


STM = read_stm(DIARIZATION_DIR / "sample.stm")


def _stm_speaker(start: float, end: float) -> str:
    overlap: dict[str, float] = {}
    for a, b, who in STM:
        overlap[who] = overlap.get(who, 0.0) + max(0.0, min(end, b) - max(start, a))
    return max(overlap, key=lambda who: overlap[who])


@pytest.fixture(scope="module")
def enrolled(api: Client, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("turns")
    speakers = {
        name: api.enroll_speaker(name, write_spans(SAMPLE, spans, folder / f"{name}.wav"))
        for name, spans in SAMPLE_TURNS.items()
    }
    yield speakers
    for speaker in speakers.values():
        api.delete_speaker(speaker.id)


def test_segments_and_words_carry_enrolled_speakers(api: Client, enrolled) -> None:
    result = api.transcribe(SAMPLE, diarize=True, word_timestamps=True)
    assert result.segments and {s.speaker for s in result.segments} <= {"Diane", "Sheila"}
    agree = [s.speaker == _stm_speaker(s.start, s.end) for s in result.segments]
    assert sum(agree) / len(agree) >= 0.7, [(s.start, s.end, s.speaker) for s in result.segments]
    ids = {speaker.id: name for name, speaker in enrolled.items()}
    assert all(ids[s.speaker_id] == s.speaker for s in result.segments)
    words = [w for s in result.segments for w in s.words or []]
    assert words and all(w.speaker in {"Diane", "Sheila"} for w in words)
    assert result.words is not None and [w.speaker for w in result.words] == [
        w.speaker for w in words
    ]
    assert all({w.speaker for w in s.words} == {s.speaker} for s in result.segments)
    right = [w.speaker == stm_speaker_at(STM, (w.start + w.end) / 2) for w in words]
    assert sum(right) / len(right) >= 0.85, [(w.word, w.start, w.speaker) for w in words]


def test_words_are_attributed_even_when_not_returned(api: Client, enrolled: dict) -> None:
    with_words = api.transcribe(SAMPLE, diarize=True, word_timestamps=True)
    without = api.transcribe(SAMPLE, diarize=True)
    assert without.words is None and all(s.words is None for s in without.segments)
    assert [(s.start, s.end, s.text, s.speaker) for s in without.segments] == [
        (s.start, s.end, s.text, s.speaker) for s in with_words.segments
    ]


def test_subtitles_show_the_speaker(api: Client, enrolled: dict) -> None:
    for fmt, mark in (("srt", ": "), ("vtt", "<v ")):
        response = api._http.post(
            "/v1/audio/transcriptions",
            files={"file": ("sample.wav", SAMPLE.read_bytes())},
            data={"diarize": "true", "response_format": fmt},
        )
        assert response.status_code == 200, response.text
        cues = [line for line in response.text.splitlines() if mark in line and "-->" not in line]
        assert cues and all(("Diane" in c or "Sheila" in c) for c in cues)


def test_without_diarize_there_are_no_speakers(api: Client) -> None:
    result = api.transcribe(SAMPLE)
    assert all(s.speaker is None and s.speaker_id is None for s in result.segments)


def test_diarize_with_stream_reports_progress_then_speakers(api: Client) -> None:
    fractions: list[float] = []
    result = api.transcribe(SAMPLE, diarize=True, on_progress=lambda f, _: fractions.append(f))
    assert fractions and fractions[-1] == pytest.approx(1.0)
    assert {s.speaker for s in result.segments} and all(s.speaker for s in result.segments)


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs(api: Client, case: dict) -> None:
    fields = {"diarize": "true", "response_format": "verbose_json"}
    check_bad_audio(api, "/v1/audio/transcriptions", case, fields)
