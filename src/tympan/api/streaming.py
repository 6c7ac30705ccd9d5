"""``leased_chunks``: a streamed response body produced chunk by chunk with a model leased.

TTS and enhancement both encode audio as it is made: each chunk is computed in the pool with
the model leased for just that chunk, and sent at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from tympan.errors import Overloaded
from tympan.models.manager import ModelManager

__all__ = ["leased_chunks"]


async def leased_chunks(
    manager: ModelManager,
    model_id: str,
    next_chunk: Callable[[Any], bytes | None],
    *,
    task: str,
    close: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """``next_chunk(model)`` until it returns ``None``; ``close`` runs however the body ends
    (a client that goes away stops the work at the next chunk).

    Once the 200 has gone out a refusal can only cut the body short, so an admitted stream
    waits for a free slot instead of failing when the queue is full between two chunks.
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
        if close is not None:
            close()
