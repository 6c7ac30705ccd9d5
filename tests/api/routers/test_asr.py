"""``/v1/audio/transcriptions`` and ``/translations`` on real speech, through the SDK and HTTP."""

from __future__ import annotations

import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import jiwer
import numpy as np
import pytest
import soundfile
from whisper_normalizer.english import EnglishTextNormalizer

from tests.conftest import EVAL_DIR, read_manifest
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tympan.api.services import Services
from tympan.client import Client
from tympan.errors import UnsupportedOperation
from tympan.tasks.asr import DEFAULT_MODEL_ID, transcriber_for

_normalize = EnglishTextNormalizer()
LJ = EVAL_DIR / "asr_ljspeech"
LJ_ROWS = read_manifest("asr_ljspeech")
SAME_WORDS = "in being comparatively modern."  # bad_inputs' speech files say this


def error_rate(reference: str, hypothesis: str) -> float:
    """WER after Whisper's English normaliser."""
    return jiwer.wer(_normalize(reference), _normalize(hypothesis) or "<empty>")


def wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def post(api: Client, path: str, file: bytes, **fields: object):  # type: ignore[no-untyped-def]
    """A raw multipart POST (lists become repeated fields, as OpenAI's client sends them)."""
    return api._http.post(path, files={"file": ("speech.flac", file)}, data=fields)


# -- response formats ---------------------------------------------------------------------

_SRT_TIME = r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d"


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json"])
def test_every_response_format_on_real_speech(api: Client, fmt: str) -> None:
    row = LJ_ROWS[0]
    response = post(
        api,
        "/v1/audio/transcriptions",
        (LJ / row["audio"]).read_bytes(),
        response_format=fmt,
        model="whisper-1",
    )
    assert response.status_code == 200, response.text
    if fmt == "json":
        assert response.headers["content-type"].startswith("application/json")
        text = response.json()["text"]
    elif fmt == "verbose_json":
        body = response.json()
        assert body["language"] == "english" and body["task"] == "transcribe"
        assert body["duration"] == pytest.approx(float(row["duration_s"]), abs=0.01)
        starts = [segment["start"] for segment in body["segments"]]
        assert starts == sorted(starts)
        assert all(0 <= s["start"] <= s["end"] <= body["duration"] for s in body["segments"])
        assert "words" not in body
        text = body["text"]
    else:
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        if fmt == "srt":
            cues = text.strip().split("\n\n")
            assert [cue.split("\n")[0] for cue in cues] == [str(n + 1) for n in range(len(cues))]
            assert all(re.fullmatch(_SRT_TIME, cue.split("\n")[1]) for cue in cues)
            text = " ".join(" ".join(cue.split("\n")[2:]) for cue in cues)
        elif fmt == "vtt":
            assert text.startswith("WEBVTT\n\n")
            lines = text.split("\n")[2:]
            text = " ".join(line for line in lines if line and "-->" not in line)
    assert error_rate(row["text"], text) < 0.15, text


def test_word_timestamps_fall_in_the_reference_turns(api: Client) -> None:
    audio = (EVAL_DIR / "diarization" / "sample.wav").read_bytes()
    response = post(
        api,
        "/v1/audio/transcriptions",
        audio,
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["word", "segment"]},
    )
    body = response.json()
    words = body["words"]
    assert len(words) > 40
    assert all(0 <= w["start"] <= w["end"] <= body["duration"] for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert " ".join(w["word"].strip() for w in words) == " ".join(body["text"].split())
    turns = [
        line.split(maxsplit=6)
        for line in (EVAL_DIR / "diarization/sample.stm").read_text().splitlines()
    ]
    # each named speaker's introduction: the name is said inside that STM turn
    for name in ("Diane", "Sheila"):
        said = [w for w in words if _normalize(w["word"]) == name.lower()]
        assert said, name
        turn = next(t for t in turns if f"{name} in" in t[6] and t[2] == name)
        assert float(turn[3]) - 0.3 <= said[0]["start"] <= float(turn[4]) + 0.3, (name, said[0])


def test_sdk_transcription_record(api: Client) -> None:
    row = LJ_ROWS[2]
    result = api.transcribe(LJ / row["audio"], word_timestamps=True, beam_size=2)
    assert result.language == "english"
    assert error_rate(row["text"], result.text) < 0.15
    assert result.words and all(w.start <= w.end for w in result.words)
    assert result.segments[0].words is not None


# -- translation ---------------------------------------------------------------------------


def test_english_only_model_refuses_translation_and_other_languages(api: Client) -> None:
    audio = (LJ / LJ_ROWS[1]["audio"]).read_bytes()
    for path, fields in [
        ("/v1/audio/translations", {"model": "tiny.en"}),
        ("/v1/audio/translations", {"model": "tiny.en", "stream": "true"}),
        ("/v1/audio/transcriptions", {"model": "tiny.en", "language": "de"}),
    ]:
        response = post(api, path, audio, **fields)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "unsupported_operation"
    with pytest.raises(UnsupportedOperation):
        api.translate(LJ / LJ_ROWS[1]["audio"], model="tiny.en")


def test_multilingual_base_translates_and_identifies_german(api: Client) -> None:
    row = next(r for r in read_manifest("multilingual") if "Hong Kong" in r["english"])
    path = EVAL_DIR / "multilingual" / row["audio"]
    translation = api.translate(path, model="whisper-base")
    assert translation.task == "translate"
    reference = {w for w in _normalize(row["english"]).split() if len(w) > 3}
    found = reference & set(_normalize(translation.text).split())
    assert len(found) >= 0.3 * len(reference), (translation.text, row["english"])
    transcription = api.transcribe(path, model="base")
    assert transcription.language == "german" and transcription.language_probability > 0.5
    assert "hongkong" in transcription.text.lower().replace(" ", "")


# -- load: concurrency and long audio ------------------------------------------------------


def test_concurrent_requests_are_batched_and_all_correct(api: Client, services: Services) -> None:
    rows = LJ_ROWS[3:9]
    api.transcribe(LJ / rows[0]["audio"])  # model loaded before the burst
    stats = transcriber_for(services.manager, services.settings).queue(DEFAULT_MODEL_ID).stats
    before = (stats.batches, stats.items)
    barrier = threading.Barrier(len(rows))

    def one(row: dict[str, str]) -> float:
        barrier.wait()
        return error_rate(row["text"], api.transcribe(LJ / row["audio"]).text)

    with ThreadPoolExecutor(len(rows)) as pool:
        rates = list(pool.map(one, rows))
    assert max(rates) < 0.2, rates
    batches, items = stats.batches - before[0], stats.items - before[1]
    assert items == len(rows)
    assert batches < items, "concurrent chunks were not batched together"


def test_long_audio_is_decoded_in_chunks_with_progress(api: Client) -> None:
    """Streamed progress, then the result timed as an unstreamed one is (phrases, not one
    segment per chunk)."""
    rows = LJ_ROWS[:20]
    gap = np.zeros(16_000, np.float32)
    pieces = [soundfile.read(LJ / row["audio"], dtype="float32")[0] for row in rows]
    audio = np.concatenate([part for piece in pieces for part in (piece, gap)])
    updates: list[float] = []
    result = api.transcribe(wav_bytes(audio), on_progress=lambda done, _: updates.append(done))
    # Phrases at sentence ends and the 1 s pauses (19 here), not one segment per chunk of up
    # to 30 s (6 here).
    assert len(result.segments) > 2 * result.duration / 30
    assert audio.size / 16_000 > 120
    assert result.duration == pytest.approx(audio.size / 16_000, abs=0.01)
    assert len(updates) >= 4 and updates == sorted(updates) and updates[-1] == 1.0
    reference = " ".join(row["text"] for row in rows)
    assert error_rate(reference, result.text) < 0.12, result.text
    ends = [segment.end for segment in result.segments]
    assert ends == sorted(ends) and ends[-1] <= result.duration


# -- bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs(api: Client, case: dict[str, str]) -> None:
    response = check_bad_audio(
        api, "/v1/audio/transcriptions", case, {"response_format": "verbose_json"}
    )
    if response.status_code == 200 and "same words" in case["why"]:
        assert error_rate(SAME_WORDS, response.json()["text"]) <= 0.25, response.text


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_translations(api: Client, case: dict[str, str]) -> None:
    fields = {"model": "whisper-base", "response_format": "verbose_json"}
    response = check_bad_audio(api, "/v1/audio/translations", case, fields)
    if response.status_code == 200 and "same words" in case["why"]:
        assert error_rate(SAME_WORDS, response.json()["text"]) <= 0.4, response.text


@pytest.mark.parametrize(
    ("path", "fields", "status", "code", "param"),
    [
        ("/v1/audio/transcriptions", {"model": "whisper-9"}, 404, "model_not_found", "model"),
        ("/v1/audio/translations", {"model": "whisper-9"}, 404, "model_not_found", "model"),
        ("/v1/audio/transcriptions", {"model": "silero-vad"}, 404, "model_not_found", "model"),
        (
            "/v1/audio/transcriptions",
            {"response_format": "xml"},
            400,
            "invalid_parameter",
            "response_format",
        ),
        (
            "/v1/audio/transcriptions",
            {"temperature": "1.5"},
            400,
            "invalid_parameter",
            "temperature",
        ),
        ("/v1/audio/transcriptions", {"beam_size": "0"}, 400, "invalid_parameter", "beam_size"),
        ("/v1/audio/transcriptions", {"language": "xx"}, 400, "invalid_parameter", "language"),
        (
            "/v1/audio/transcriptions",
            {"timestamp_granularities[]": "char"},
            400,
            "invalid_parameter",
            "timestamp_granularities[]",
        ),
        (
            "/v1/audio/transcriptions",
            {"vad_filter": "maybe"},
            400,
            "invalid_parameter",
            "vad_filter",
        ),
        (
            "/v1/audio/translations",
            {"response_format": "docx"},
            400,
            "invalid_parameter",
            "response_format",
        ),
    ],
)
def test_bad_parameters(
    api: Client, path: str, fields: dict[str, str], status: int, code: str, param: str
) -> None:
    response = post(api, path, (LJ / LJ_ROWS[1]["audio"]).read_bytes(), **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["param"].startswith(param)  # list fields name the item: "...[].0"
    assert error["message"]


def test_missing_file_is_a_bad_parameter(api: Client) -> None:
    response = api._http.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file"


def test_conditioning_on_previous_text_decodes_chunks_in_turn(
    api: Client, services: Services
) -> None:
    rows = read_manifest("asr_accents")[3:5]  # two ~21 s readings: several chunks
    audio = np.concatenate(
        [soundfile.read(EVAL_DIR / "asr_accents" / r["audio"], dtype="float32")[0] for r in rows]
    )
    stats = transcriber_for(services.manager, services.settings).queue(DEFAULT_MODEL_ID).stats
    before = (stats.batches, stats.items)
    result = api.transcribe(wav_bytes(audio), condition_on_previous_text=True)
    batches, items = stats.batches - before[0], stats.items - before[1]
    assert items >= 2 and batches == items  # one chunk at a time
    assert error_rate(" ".join(r["text"] for r in rows), result.text) < 0.15, result.text
