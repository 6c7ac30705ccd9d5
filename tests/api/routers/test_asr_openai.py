"""The official ``openai`` client against a real Tympan HTTP server (uvicorn on loopback)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.api.routers.test_asr import LJ, LJ_ROWS, error_rate
from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio

API_KEY = "sk-tympan-test"
SAMPLE = EVAL_DIR / "diarization" / "sample.wav"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tympan server with an API key, on a free loopback port, for this module."""
    settings = make_settings(tmp_path_factory.mktemp("openai"), api_keys=API_KEY)
    with serve_in_thread(settings) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)


def test_json_and_text_transcriptions(client: openai.OpenAI) -> None:
    row = LJ_ROWS[0]
    with (LJ / row["audio"]).open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert error_rate(row["text"], result.text) < 0.15
    with (LJ / row["audio"]).open("rb") as audio:
        text = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="text"
        )
    assert isinstance(text, str) and error_rate(row["text"], text) < 0.15


def test_verbose_json_with_words_and_segments(client: openai.OpenAI) -> None:
    with (EVAL_DIR / "asr_small" / "whisper_jfk.flac").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            language="en",
            prompt="John F. Kennedy, inaugural address.",
            temperature=0.0,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.language == "english"
    assert result.duration == pytest.approx(11.0, abs=0.1)
    assert result.segments and result.words
    assert result.segments[0].start < result.segments[-1].end <= result.duration
    assert "country" in {word.word.strip(" .,").lower() for word in result.words}
    assert "ask not what your country can do for you" in result.text.lower()


def test_subtitles(client: openai.OpenAI) -> None:
    with (EVAL_DIR / "asr_small" / "whisper_jfk.flac").open("rb") as audio:
        srt = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="srt"
        )
    assert srt.startswith("1\n00:00:0") and " --> " in srt


def test_streamed_transcription_events(client: openai.OpenAI) -> None:
    with (EVAL_DIR / "asr_small" / "whisper_jfk.flac").open("rb") as audio:
        events = list(
            client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
        )
    assert [event.type for event in events][-1] == "transcript.text.done"
    assert {event.type for event in events[:-1]} == {"transcript.text.delta"}
    assert "".join(event.delta for event in events[:-1]).strip() == events[-1].text


def test_streamed_events_carry_logprobs_when_included(client: openai.OpenAI) -> None:
    with (EVAL_DIR / "asr_small" / "whisper_jfk.flac").open("rb") as audio:
        events = list(
            client.audio.transcriptions.create(
                model="whisper-1", file=audio, stream=True, include=["logprobs"]
            )
        )
    *deltas, done = events
    for delta in deltas:
        assert "".join(item.token for item in delta.logprobs) == delta.delta
    assert [item.token for item in done.logprobs] == [
        item.token for delta in deltas for item in delta.logprobs
    ]
    assert all(item.logprob <= 0 for item in done.logprobs)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # openai marks translations so
def test_translation_with_english_only_model_is_a_clear_400(client: openai.OpenAI) -> None:
    audio = (LJ / LJ_ROWS[1]["audio"]).read_bytes()
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.translations.create(model="tiny.en", file=("speech.flac", audio))
    assert caught.value.code == "unsupported_operation"
    assert "English-only" in caught.value.message


def test_models_and_authentication(base_url: str, client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"whisper-tiny.en", "whisper-base", "whisper-1", "gpt-4o-transcribe"} <= ids
    stranger = openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_include_logprobs_gives_each_word_its_log_probability(client: openai.OpenAI) -> None:
    row = LJ_ROWS[0]
    with (LJ / row["audio"]).open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=audio, include=["logprobs"]
        )
    assert result.logprobs and all(item.logprob <= 0 for item in result.logprobs)
    assert "".join(item.token for item in result.logprobs).strip() == result.text.strip()
    assert all(item.bytes == list(item.token.encode()) for item in result.logprobs)
    with (
        (LJ / row["audio"]).open("rb") as audio,
        pytest.raises(openai.BadRequestError) as bad,
    ):
        client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=audio, include=["logprobs"], response_format="text"
        )
    assert "include[]" in str(bad.value)


def test_diarized_json_the_openai_way(client: openai.OpenAI) -> None:
    with SAMPLE.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize", file=audio, response_format="diarized_json"
        )
    assert result.task == "transcribe" and result.duration == pytest.approx(30.0, abs=0.1)
    assert len({segment.speaker for segment in result.segments}) == 2
    assert all(s.type == "transcript.text.segment" and s.start < s.end for s in result.segments)
    assert " ".join(s.text for s in result.segments).split() == result.text.split()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_streamed_diarization_sends_segment_events(client: openai.OpenAI) -> None:
    with SAMPLE.open("rb") as audio:
        events = list(
            client.audio.transcriptions.create(
                model="gpt-4o-transcribe-diarize",
                file=audio,
                response_format="diarized_json",
                stream=True,
            )
        )
    kinds = [event.type for event in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds
    segments = [event for event in events if event.type == "transcript.text.segment"]
    assert len({segment.speaker for segment in segments}) == 2
    assert " ".join(s.text for s in segments).split() == events[-1].text.split()


def test_diarized_json_is_refused_for_translation(client: openai.OpenAI) -> None:
    audio = (LJ / LJ_ROWS[1]["audio"]).read_bytes()
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.translations.create(
            model="whisper-1",
            file=("speech.flac", audio),
            extra_body={"response_format": "diarized_json"},
        )
    assert caught.value.body["param"] == "response_format"


def clip_url(path: Path, start: float, end: float) -> str:
    """A data URL of ``path`` from ``start`` to ``end`` seconds, as OpenAI's field takes it."""
    samples = decode_audio(path).samples[int(start * 16_000) : int(end * 16_000)]
    return (
        "data:audio/wav;base64," + base64.b64encode(encode_audio(samples, 16_000, "wav")).decode()
    )


def _diarize_sample(client: openai.OpenAI, names: list[str], urls: list[str]):  # type: ignore[no-untyped-def]
    with SAMPLE.open("rb") as audio:
        return client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize",
            file=audio,
            response_format="diarized_json",
            known_speaker_names=names,
            known_speaker_references=urls,
        )


def agreement(segments, reference: dict[str, str]) -> float:  # type: ignore[no-untyped-def]
    """Share of the labelled time whose name is the reference speaker's at that moment."""
    rows = [line.split() for line in SAMPLE.with_suffix(".rttm").read_text().splitlines()]
    turns = [(float(r[3]), float(r[3]) + float(r[4]), reference[r[7]]) for r in rows]
    right = total = 0.0
    for segment in segments:
        for start, end, name in turns:
            overlap = min(end, segment.end) - max(start, segment.start)
            if overlap > 0:
                total += overlap
                right += overlap * (segment.speaker == name)
    return right / total


def test_known_speaker_references_name_the_speakers(client: openai.OpenAI) -> None:
    """Diane and Sheila named from clips of their own turns (times from sample.rttm)."""
    urls = [clip_url(SAMPLE, 10.6, 14.4), clip_url(SAMPLE, 22.0, 28.0)]
    result = _diarize_sample(client, ["Diane", "Sheila"], urls)
    assert {segment.speaker for segment in result.segments} == {"Diane", "Sheila"}
    assert agreement(result.segments, {"speaker90": "Diane", "speaker91": "Sheila"}) > 0.8


def test_a_reference_of_another_voice_names_nobody(client: openai.OpenAI) -> None:
    """A stranger's clip under a name never lends that name to a voice in the recording."""
    stranger = EVAL_DIR / "speakers" / "audio" / "1688-142285-0001.flac"
    urls = [clip_url(SAMPLE, 10.6, 14.4), clip_url(stranger, 0.0, 8.0)]
    result = _diarize_sample(client, ["Diane", "Bob"], urls)
    speakers = {segment.speaker for segment in result.segments}
    assert "Diane" in speakers and "Bob" not in speakers and len(speakers) == 2


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"known_speaker_names[]": ["A"]}, "known_speaker_references[]", "one reference"),
        (
            {"known_speaker_names[]": ["A"], "known_speaker_references[]": ["https://x/y.wav"]},
            "known_speaker_references[]",
            "data URL",
        ),
        (
            {"known_speaker_names[]": ["A"], "known_speaker_references[]": ["data:;base64,%%%"]},
            "known_speaker_references[]",
            "base64",
        ),
        (
            {"known_speaker_names[]": ["A", "a"], "known_speaker_references[]": ["1", "2"]},
            "known_speaker_names[]",
            "distinct",
        ),
    ],
)
def test_bad_known_speakers_are_400(base_url: str, fields, param: str, words: str) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{base_url}/audio/transcriptions",
        headers={"Authorization": f"Bearer {API_KEY}"},
        files={"file": ("s.wav", SAMPLE.read_bytes())},
        data={"model": "gpt-4o-transcribe-diarize", **fields},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"]


def test_known_speakers_need_diarization_and_clips_of_2_to_10_seconds(
    client: openai.OpenAI,
) -> None:
    audio = SAMPLE.read_bytes()
    with pytest.raises(openai.BadRequestError) as plain:
        client.audio.transcriptions.create(
            model="whisper-1",
            file=("s.wav", audio),
            known_speaker_names=["Diane"],
            known_speaker_references=[clip_url(SAMPLE, 10.6, 14.4)],
        )
    assert plain.value.body["param"] == "known_speaker_names[]"
    with pytest.raises(openai.BadRequestError) as short:
        _diarize_sample(client, ["Diane"], [clip_url(SAMPLE, 10.6, 11.6)])
    assert "2-10 s" in short.value.body["message"]
    assert client.models.list().data  # still answering


def test_chunking_strategy_auto_and_server_vad(client: openai.OpenAI) -> None:
    row = LJ_ROWS[0]
    strategies = [
        "auto",
        {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 300},
        {"type": "server_vad", "silence_duration_ms": 200},
    ]
    for strategy in strategies:
        with (LJ / row["audio"]).open("rb") as audio:
            result = client.audio.transcriptions.create(
                model="whisper-1", file=audio, chunking_strategy=strategy
            )
        assert error_rate(row["text"], result.text) < 0.15, strategy


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"chunking_strategy[type]": "server_vad", "chunking_strategy[threshold]": "1.5"},
            "threshold",
        ),
        (
            {"chunking_strategy": '{"type": "server_vad", "silence_duration_ms": -5}'},
            "min_silence_ms",
        ),
        ({"chunking_strategy": '{"type": "semantic"}'}, "server_vad"),
        ({"chunking_strategy": "{not json"}, "JSON object"),
        ({"chunking_strategy": "fixed"}, "auto"),
    ],
)
def test_bad_chunking_strategies_are_400(base_url: str, fields: dict, words: str) -> None:
    response = httpx.post(
        f"{base_url}/audio/transcriptions",
        headers={"Authorization": f"Bearer {API_KEY}"},
        files={"file": ("s.flac", (LJ / LJ_ROWS[0]["audio"]).read_bytes())},
        data={"model": "whisper-1", **fields},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "chunking_strategy" and words in error["message"]
