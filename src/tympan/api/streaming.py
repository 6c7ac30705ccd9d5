"""Streamed bodies produced chunk by chunk, each chunk one bounded call of a model.

TTS and enhancement both encode audio as it is made and send each chunk at once. Enhancement
in the API process (``leased_chunks``) keeps its stream's state in the model's own objects (a
DeepFilterNet state), so each chunk runs in the pool with the model leased for just that chunk.
Speech (``speech_chunks``) and enhancement on Ray replicas (``enhanced_chunks``, part by part)
keep their state here (what is left to say or enhance, the encoder), so each chunk is a plain
call of the model (``rendered_chunks``), which runs wherever the model is served: the pool, or
a Ray Serve replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import numpy as np

from tympan.errors import Overloaded
from tympan.models.manager import ModelManager
from tympan.tasks.enhancement import ENHANCEMENT_TASK, PartedEnhancement, enhance_part
from tympan.tasks.tts import TTS_TASK, SpeechStream, speak_chunk

__all__ = ["admitted", "enhanced_chunks", "leased_chunks", "rendered_chunks", "speech_chunks"]

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


class Encoding(Protocol):
    """A stream's encoder side: model output in, bytes to send out."""

    def encode(self, samples: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


async def rendered_chunks(
    manager: ModelManager,
    model_id: str,
    render: Callable[..., np.ndarray],
    next_args: Callable[[], tuple[Any, ...] | None],
    stream: Encoding,
    *,
    task: str,
) -> AsyncIterator[bytes]:
    """The encoded output of ``render(model, *args)`` for each ``next_args()`` until it is
    ``None``: each a plain call of the model, which runs wherever the model is served (the
    pool, or a Ray Serve replica), encoded in a worker thread and sent unless the encoder is
    still buffering."""
    while (args := next_args()) is not None:
        samples = await admitted(manager, model_id, render, *args, task=task)
        if data := await asyncio.to_thread(stream.encode, samples):
            yield data
    if tail := await asyncio.to_thread(stream.finish):
        yield tail


def speech_chunks(
    manager: ModelManager, model_id: str, stream: SpeechStream
) -> AsyncIterator[bytes]:
    """The encoded audio of ``stream``: each chunk rendered by the voice's model
    (``speak_chunk``)."""
    speed = stream.options.speed

    def next_args() -> tuple[list[str], float] | None:
        phonemes = stream.next_phonemes()
        return None if phonemes is None else (phonemes, speed)

    return rendered_chunks(manager, model_id, speak_chunk, next_args, stream, task=TTS_TASK)


def enhanced_chunks(
    manager: ModelManager, model_id: str, stream: PartedEnhancement
) -> AsyncIterator[bytes]:
    """The encoded audio of ``stream``: each part enhanced by the model (``enhance_part``)."""
    return rendered_chunks(
        manager, model_id, enhance_part, stream.next_part, stream, task=ENHANCEMENT_TASK
    )
