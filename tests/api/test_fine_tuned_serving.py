"""A fine-tuned model by name beyond transcriptions: a real fine-tuning job of the bundled
multilingual ``whisper-base`` on a real server, then its ``ft:`` name in
``/v1/audio/translations`` (German speech to English) and as the transcription model of a live
Realtime session, through the official ``openai`` client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from tests.adapt_data import adapt_rows, dataset_zip
from tests.api.routers.test_realtime import (
    SHORT,
    SHORT_TEXT,
    at_24k,
    b64,
    transcription_session,
    until,
)
from tests.conftest import EVAL_DIR, make_settings, read_manifest
from tests.live_audio import silence, speech, wer
from tests.live_server import serve_in_thread

API_KEY = "sk-tympan-ft-serving"
ENDED = ("succeeded", "failed", "cancelled")
_normalize = EnglishTextNormalizer()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("ft-serving"), api_keys=API_KEY)
    with serve_in_thread(settings) as url:
        yield url


@pytest.fixture(scope="module")
def fine_tuned(server: str) -> str:
    """``ft:whisper-base:multi:1``: one small step on the decoder (English accented speech),
    so it still knows German; what these tests check is that the name is served."""
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=API_KEY, max_retries=0)
    rows = adapt_rows("train", 6, speakers=3)
    train = client.files.create(file=("train.zip", dataset_zip(rows[:4])), purpose="fine-tune")
    valid = client.files.create(file=("valid.zip", dataset_zip(rows[4:])), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="whisper-base",
        training_file=train.id,
        validation_file=valid.id,
        suffix="multi",
        seed=1,
        hyperparameters={"n_epochs": 1, "batch_size": 2},
        extra_body={"max_steps": 1, "layers": "decoder", "learning_rate": 1e-5},
    )
    deadline = time.monotonic() + 900
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ENDED:
        assert time.monotonic() < deadline, f"{job.id} still {job.status}"
        time.sleep(1)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == "ft:whisper-base:multi:1"
    return job.fine_tuned_model


def test_a_fine_tuned_multilingual_model_translates_by_name(server: str, fine_tuned: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=API_KEY, max_retries=0)
    row = next(r for r in read_manifest("multilingual") if "Hong Kong" in r["english"])
    with (EVAL_DIR / "multilingual" / row["audio"]).open("rb") as audio:
        translation = client.audio.translations.create(
            model=fine_tuned, file=audio, response_format="verbose_json"
        )
    assert translation.language == "german"
    reference = {w for w in _normalize(row["english"]).split() if len(w) > 3}
    found = reference & set(_normalize(translation.text).split())
    assert len(found) >= 0.3 * len(reference), (translation.text, row["english"])


def test_a_live_session_transcribes_with_a_fine_tuned_model(server: str, fine_tuned: str) -> None:
    async def scenario() -> list[Any]:
        client = openai.AsyncOpenAI(base_url=f"{server}/v1", api_key=API_KEY, max_retries=0)
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            await conn.session.update(session=transcription_session(fine_tuned))
            data = at_24k(np.concatenate([silence(0.3), speech(SHORT), silence(1.2)]))
            for start in range(0, len(data), 9600):  # 200 ms chunks, 4x real time
                await conn.input_audio_buffer.append(audio=b64(data[start : start + 9600]))
                await asyncio.sleep(0.05)
            return await until(conn, "conversation.item.input_audio_transcription.completed")

    events = asyncio.run(scenario())
    assert [e.type for e in events][:2] == ["session.created", "session.updated"]
    assert events[1].session.audio.input.transcription.model == fine_tuned
    (done,) = [e for e in events if e.type.endswith("transcription.completed")]
    assert wer(SHORT_TEXT, done.transcript) < 0.3, done.transcript
