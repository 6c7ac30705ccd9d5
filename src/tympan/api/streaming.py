"""Audio answers streamed chunk by chunk, each chunk computed with its model leased."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from tympan.errors import Overloaded
from tympan.models.manager import ModelManager

__all__ = ["leased_chunks"]


async def leased_chunks(
    manager: ModelManager,
    model_id: str,
    next_chunk: Callable[[object], bytes | None],
    *,
    task: str,
    on_close: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """Each chunk is computed in the pool with ``model_id`` leased, then sent at once.

    Once the 200 has gone out a refusal can only cut the audio short, so an admitted stream
    waits for a free slot instead of failing when the queue is full between two chunks.
    ``on_close`` runs however the stream ends (done, or the client went away).
    """
    try:
        while True:
            try:
                chunk = await manager.infer(model_id, next_chunk, task=task)
            except Overloaded:
                await asyncio.sleep(0.05)  # slots free up as other chunks finish
                continue
            if chunk is None:
                return
            yield chunk
    finally:
        if on_close is not None:
            on_close()
