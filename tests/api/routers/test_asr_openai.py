"""The official ``openai`` client against a real Tympan HTTP server (uvicorn on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.api.routers.test_asr import LJ, LJ_ROWS, error_rate
from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread

API_KEY = "sk-tympan-test"


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
        pytest.raises(openai.UnprocessableEntityError) as bad,
    ):
        client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=audio, include=["logprobs"], response_format="text"
        )
    assert "include[]" in str(bad.value)


def test_diarized_json_the_openai_way(client: openai.OpenAI) -> None:
    with (EVAL_DIR / "diarization" / "sample.wav").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize", file=audio, response_format="diarized_json"
        )
    assert result.task == "transcribe" and result.duration == pytest.approx(30.0, abs=0.1)
    assert len({segment.speaker for segment in result.segments}) == 2
    assert all(s.type == "transcript.text.segment" and s.start < s.end for s in result.segments)
    assert " ".join(s.text for s in result.segments).split() == result.text.split()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_diarized_json_is_refused_for_translation(client: openai.OpenAI) -> None:
    audio = (LJ / LJ_ROWS[1]["audio"]).read_bytes()
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.audio.translations.create(
            model="whisper-1",
            file=("speech.flac", audio),
            extra_body={"response_format": "diarized_json"},
        )
    assert caught.value.body["param"] == "response_format"
