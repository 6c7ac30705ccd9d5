"""The Wyoming server with the ``wyoming`` library's own client, on a live server.

What Home Assistant does: ``describe``, then speech to text (``transcribe`` + audio) and text
to speech (``synthesize``, plain and streamed); refused requests get ``error`` events and the
connection goes on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import soxr
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from tests.conftest import EVAL_DIR, make_settings
from tests.live_audio import pcm16, silence, speech, wer
from tests.live_server import serve_in_thread

SENTENCE = EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac"
SENTENCE_TEXT = (
    "Printing, in the only sense with which we are at present concerned, differs from most "
    "if not from all the arts and crafts represented in the Exhibition"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def wyoming_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    settings = make_settings(
        tmp_path_factory.mktemp("wyoming"), wyoming_uri=f"tcp://127.0.0.1:{port}"
    )
    with serve_in_thread(settings):
        yield port


async def exchange(port: int, events: list[Event], *, until: str) -> list[Event]:
    """Send ``events`` and read the answers up to the first of type ``until``."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        answers = []
        while True:
            answer = await asyncio.wait_for(client.read_event(), timeout=300)
            assert answer is not None, "the server closed the connection"
            answers.append(answer)
            if answer.type == until:
                return answers


def audio_events(samples: np.ndarray, rate: int, chunk_seconds: float = 0.1) -> list[Event]:
    data = pcm16(soxr.resample(samples, 16_000, rate) if rate != 16_000 else samples)
    step = round(rate * chunk_seconds) * 2
    fmt: dict[str, Any] = {"rate": rate, "width": 2, "channels": 1}
    chunks = [
        AudioChunk(audio=data[i : i + step], **fmt).event() for i in range(0, len(data), step)
    ]
    return [AudioStart(**fmt).event(), *chunks, AudioStop().event()]


def test_describe_lists_asr_models_and_tts_voices(wyoming_port):
    (answer,) = asyncio.run(exchange(wyoming_port, [Describe().event()], until="info"))
    info = Info.from_event(answer)
    (asr,) = info.asr
    models = {model.name: model for model in asr.models}
    assert models["whisper-tiny.en"].languages == ["en"]
    assert "de" in models["whisper-base"].languages
    assert asr.supports_transcript_streaming
    (tts,) = info.tts
    assert "joe" in {voice.name for voice in tts.voices}
    assert tts.supports_synthesize_streaming


def test_speech_at_another_rate_is_transcribed_with_streaming_transcript_events(wyoming_port):
    audio = np.concatenate([speech(SENTENCE), silence(0.5)])
    request = [Transcribe(language="en").event(), *audio_events(audio, 22_050)]
    answers = asyncio.run(exchange(wyoming_port, request, until="transcript"))
    kinds = [a.type for a in answers]
    assert kinds[0] == TranscriptStart.from_event(answers[0]).event().type
    assert kinds[-2:] == ["transcript-stop", "transcript"]
    assert set(kinds[1:-2]) <= {"transcript-chunk"}
    final = Transcript.from_event(answers[-1])
    assert wer(SENTENCE_TEXT, final.text) < 0.15
    streamed = "".join(TranscriptChunk.from_event(a).text for a in answers[1:-2])
    assert wer(final.text, streamed) < 0.2
    assert TranscriptStop.is_type(answers[-2].type)


def _pcm_of(answers: list[Event]) -> tuple[int, np.ndarray]:
    start = AudioStart.from_event(answers[0])
    assert (start.width, start.channels) == (2, 1)
    data = b"".join(AudioChunk.from_event(a).audio for a in answers if a.type == "audio-chunk")
    return start.rate, np.frombuffer(data, "<i2").astype(np.float32) / 32768


def test_synthesized_speech_comes_back_as_pcm_and_transcribes_to_its_text(wyoming_port):
    text = "The quick brown fox jumps over the lazy dog."
    request = [Synthesize(text=text, voice=SynthesizeVoice(name="alloy")).event()]
    answers = asyncio.run(exchange(wyoming_port, request, until="audio-stop"))
    rate, samples = _pcm_of(answers)
    assert 1.5 < samples.shape[0] / rate < 6
    at_16k = soxr.resample(samples, rate, 16_000)
    heard = asyncio.run(
        exchange(
            wyoming_port, [Transcribe().event(), *audio_events(at_16k, 16_000)], until="transcript"
        )
    )
    assert wer(text, Transcript.from_event(heard[-1]).text) < 0.2


def test_streamed_synthesis_speaks_the_chunks_once_and_says_it_stopped(wyoming_port):
    parts = ["Hello there. ", "This text arrives ", "in pieces."]
    request = [
        SynthesizeStart().event(),
        *(SynthesizeChunk(text=part).event() for part in parts),
        Synthesize(text="".join(parts)).event(),  # sent for older servers; ignored here
        SynthesizeStop().event(),
    ]
    answers = asyncio.run(exchange(wyoming_port, request, until="synthesize-stopped"))
    kinds = [a.type for a in answers]
    assert kinds.count("audio-start") == kinds.count("audio-stop") == 1
    assert SynthesizeStopped.is_type(kinds[-1])
    rate, samples = _pcm_of(answers)
    assert samples.shape[0] / rate > 1.5


@pytest.mark.parametrize(
    ("events", "code"),
    [
        (
            [AudioChunk(rate=16_000, width=2, channels=1, audio=b"\0\0").event()],
            "invalid_parameter",
        ),
        ([AudioStop().event()], "invalid_parameter"),
        ([AudioStart(rate=16_000, width=1, channels=1).event()], "invalid_parameter"),
        (
            [
                Transcribe(name="no-such-model").event(),
                AudioStart(rate=16_000, width=2, channels=1).event(),
            ],
            "model_not_found",
        ),
        (
            [
                Transcribe(language="de").event(),
                AudioStart(rate=16_000, width=2, channels=1).event(),
            ],
            "unsupported_operation",
        ),
        ([Synthesize(text="...").event()], "nothing_to_speak"),
    ],
)
def test_refused_requests_get_an_error_and_the_connection_goes_on(wyoming_port, events, code):
    answers = asyncio.run(exchange(wyoming_port, [*events, Describe().event()], until="info"))
    errors = [Error.from_event(a) for a in answers if a.type == "error"]
    assert [e.code for e in errors] == [code]
    assert errors[0].text
