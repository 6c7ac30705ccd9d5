"""Streamed bodies produced chunk by chunk, each chunk one bounded call of a model.

TTS and enhancement both encode audio as it is made and send each chunk at once. Enhancement
(``leased_chunks``) keeps its stream's state in the model's own objects (a DeepFilterNet state),
so each chunk runs in the pool with the model leased for just that chunk. Speech
(``speech_chunks``) keeps its state here (what is left to say, the encoder), so each chunk's
rendering is a plain call of the model, which runs wherever the model is served: the pool, or
a Ray Serve replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from tympan.errors import Overloaded
from tympan.models.manager import ModelManager
from tympan.tasks.tts import TTS_TASK, SpeechStream, speak_chunk

__all__ = ["admitted", "leased_chunks", "speech_chunks"]

T = TypeVar("T")
_RETRY_SECONDS = 0.05


async def admitted(
    manager: ModelManager, model_id: str, fn: Callable[..., T], *args: Any, task: str
) -> T:
    """``manager.infer``, waiting for a slot when the queue is full instead of failing.

    Once a stream has begun (the 200, or Wyoming's audio-start), a refusal could only cut it
    short; slots free up as other chunks finish.
    """
    while True:
        try:
            return await manager.infer(model_id, fn, *args, task=task)
        except Overloaded:
            await asyncio.sleep(_RETRY_SECONDS)


async def leased_chunks(
    manager: ModelManager,
    model_id: str,
    next_chunk: Callable[[Any], bytes | None],
    *,
    task: str,
    close: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """``next_chunk(model)`` until it returns ``None``; ``close`` runs however the body ends
    (a client that goes away stops the work at the next chunk)."""
    try:
        while (chunk := await admitted(manager, model_id, next_chunk, task=task)) is not None:
            yield chunk
    finally:
        if close is not None:
            close()


async def speech_chunks(
    manager: ModelManager, model_id: str, stream: SpeechStream
) -> AsyncIterator[bytes]:
    """The encoded audio of ``stream``: each chunk rendered by the voice's model
    (``speak_chunk``), encoded in a worker thread, sent unless the encoder is still buffering."""
    speed = stream.options.speed
    while (phonemes := stream.next_phonemes()) is not None:
        audio = await admitted(manager, model_id, speak_chunk, phonemes, speed, task=TTS_TASK)
        if data := await asyncio.to_thread(stream.encode, audio):
            yield data
    if tail := await asyncio.to_thread(stream.finish):
        yield tail
