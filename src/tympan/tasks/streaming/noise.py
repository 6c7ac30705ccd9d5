"""``LiveNoiseReduction``: a live session's audio through a streaming enhancer, chunk by chunk.

The same enhancers as ``noise_reduction`` on files (``tympan.tasks.enhancement``), run as a
stream: each incoming chunk is enhanced in the pool with the enhancer leased, before VAD and
decoding see it. The enhancer's few milliseconds of latency delay the audio, never drop it.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from tympan.audio import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement import (
    ENHANCEMENT_TASK,
    NOISE_REDUCTION_POLICY,
    EnhancerSession,
)
from tympan.tasks.streaming.engine import LiveEngine

__all__ = ["LiveNoiseReduction"]


class LiveNoiseReduction:
    """The session's enhancer (or none) and its streaming state."""

    def __init__(self, engine: LiveEngine) -> None:
        self.engine = engine
        self.choice: str | None = None
        self._model_id: str | None = None
        self._stream: EnhancerSession | None = None
        self._using = threading.Lock()  # a stream is freed only when no thread is inside it

    async def configure(self, choice: str | None) -> None:
        """Use the enhancer ``choice`` names (``near_field``, ``far_field``, a model id), or
        none; ``auto`` needs a whole recording to estimate its SNR, so it is refused here."""
        if choice == self.choice:
            return
        if choice == "auto":
            raise InvalidParameter(
                "noise_reduction 'auto' needs a whole recording; live sessions take near_field, "
                "far_field or an enhancement model id.",
                param="noise_reduction",
            )
        manager = self.engine.manager
        model_id = None
        if choice is not None:
            enhancers = [spec.id for spec in manager.registry.list(ENHANCEMENT_TASK)]
            model_id = NOISE_REDUCTION_POLICY.model_for(
                choice, Audio.from_array(np.zeros(0, np.float32)), enhancers, task="live"
            )
        stream = None
        if model_id is not None:
            stream = await manager.infer(
                model_id, lambda enhancer: enhancer.session(), task=ENHANCEMENT_TASK
            )
        await self.close()
        self.choice, self._model_id, self._stream = choice, model_id, stream

    async def apply(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` enhanced (as they come when there is no enhancer)."""
        if self._stream is None or self._model_id is None:
            return samples
        stream = self._stream

        def process(_: object) -> np.ndarray:
            with self._using:
                return stream.process(samples)

        return await self.engine.manager.infer(self._model_id, process, task=ENHANCEMENT_TASK)

    async def close(self) -> None:
        """Release the enhancer's streaming state, once a chunk still being enhanced in the
        pool (its caller may have been cancelled) is done with it."""
        stream, self._stream = self._stream, None
        if stream is not None:

            def free() -> None:
                with self._using:
                    stream.close()

            await asyncio.to_thread(free)
