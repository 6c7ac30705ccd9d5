"""``Client.listen``: live events as an async iterator, in-process and against a live server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from tests.conftest import EVAL_DIR
from tests.live_audio import pcm16, silence, speech, wer
from tympan.client import Client
from tympan.errors import BadRequest, ModelNotFound

SHORT = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
SHORT_TEXT = "in being comparatively modern."


async def _all(events: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event async for event in events]


def _completed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"].endswith("transcription.completed")]


def test_in_process_client_streams_a_file_and_names_the_speaker(api: Client):
    events = asyncio.run(_all(api.listen(SHORT, speed=None, speakers=True)))
    (final,) = _completed(events)
    assert wer(SHORT_TEXT, final["transcript"]) < 0.15
    assert final["speaker"] == "SPEAKER_0"
    assert events[-1] is final  # the iterator ends with the last turn


def test_remote_client_sends_live_pcm_as_it_comes(live_server: str):
    async def microphone() -> AsyncIterator[bytes]:
        data = pcm16(np.concatenate([speech(SHORT), silence(0.8), speech(SHORT)]))
        for start in range(0, len(data), 3200):
            yield data[start : start + 3200]
            await asyncio.sleep(0.02)

    with Client(live_server) as client:
        events = asyncio.run(_all(client.listen(microphone(), silence_ms=400)))
    finals = _completed(events)
    assert len(finals) == 2
    assert all(wer(SHORT_TEXT, final["transcript"]) < 0.15 for final in finals)


def test_a_refused_session_raises_the_tympan_error(api: Client):
    with pytest.raises(ModelNotFound):
        asyncio.run(_all(api.listen(SHORT, model="no-such-model", speed=None)))


def test_eagerness_asks_for_semantic_vad_and_a_bad_one_is_refused_by_name(api: Client):
    events = asyncio.run(_all(api.listen(SHORT, speed=None, eagerness="high")))
    (final,) = _completed(events)
    assert wer(SHORT_TEXT, final["transcript"]) < 0.15
    with pytest.raises(BadRequest) as refused:
        asyncio.run(_all(api.listen(SHORT, speed=None, eagerness="eager")))
    assert refused.value.param == "session.audio.input.turn_detection.eagerness"
