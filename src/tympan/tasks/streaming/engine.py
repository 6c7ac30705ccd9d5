"""``LiveEngine``: what every live session of one service shares.

The model manager (the speaker encoder runs in its pool), the ASR ``Transcriber`` (so live
turns and file requests meet in the same per-model batching queue), the enrolled speakers, the
count of open sessions (``realtime_max_sessions``), the preview budget they share, and the one
thread that scores their audio with Silero as it arrives.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tympan.audio.types import Audio
from tympan.config import Settings
from tympan.errors import InvalidAudio, Overloaded
from tympan.metrics import LIVE_SESSIONS
from tympan.models.manager import ModelManager
from tympan.store.db import Database
from tympan.store.glossaries import GlossaryStore
from tympan.tasks.asr import Transcriber, transcriber_for
from tympan.tasks.speakers import SPEAKER_TASK, SpeakerEncoder, VoiceprintIndex, enrolled_index
from tympan.tasks.streaming.budget import PreviewBudget
from tympan.tasks.vad import SILERO_MODEL_ID, VAD_TASK, SileroState

__all__ = ["LiveEngine", "live_engine"]


class LiveEngine:
    """Shared parts of live sessions; sessions are opened with ``LiveSession(engine, ...)``."""

    def __init__(self, manager: ModelManager, settings: Settings, db: Database) -> None:
        self.manager = manager
        self.settings = settings
        self.db = db
        self.transcriber: Transcriber = transcriber_for(manager, settings)
        self.open_sessions = 0
        self.previews = PreviewBudget()
        self._vad_lane = ThreadPoolExecutor(1, thread_name_prefix="tympan-live-vad")

    def acquire(self) -> None:
        """Count a new session in; ``Overloaded`` (503) past ``realtime_max_sessions``."""
        limit = self.settings.realtime_max_sessions
        if self.open_sessions >= limit:
            raise Overloaded(
                f"Too many live sessions: {limit} are open (TYMPAN_REALTIME_MAX_SESSIONS); "
                "retry shortly.",
                retry_after=1.0,
                code="session_limit",
            )
        self.open_sessions += 1
        LIVE_SESSIONS.inc()

    def preview_interval(self, *, first_words: bool = False) -> float:
        """Seconds each session waits between previews of its open turn at the current load
        (``realtime_partial_interval_ms`` at least; half of it for a turn with no words out
        yet, so its first delta comes soon after its first word)."""
        base = self.settings.realtime_partial_interval_ms / 1000
        return self.previews.interval(base / 2 if first_words else base, self.open_sessions)

    def release(self) -> None:
        """Count a session out."""
        self.open_sessions -= 1
        LIVE_SESSIONS.dec()

    async def score_frames(
        self, frames: np.ndarray, state: SileroState
    ) -> tuple[np.ndarray, SileroState]:
        """Silero probabilities of a session's new frames, on the engine's own VAD thread.

        Not in the inference pool: there the frames waited behind ASR decodes and speaker
        embeddings (a decode holds its thread for seconds under load), the session fell
        behind real time and its turns ended late. A call is a few 32 ms frames (about a
        millisecond); each session has at most one waiting, so one thread serves them all.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._vad_lane, self._score_frames, frames, state)

    def _score_frames(
        self, frames: np.ndarray, state: SileroState
    ) -> tuple[np.ndarray, SileroState]:
        with self.manager.use(SILERO_MODEL_ID, task=VAD_TASK) as model:
            return model.handle.score_frames(frames, state)

    async def prepare(self, asr_model: str, *, speakers: bool) -> None:
        """Load a session's models before its audio comes, so its first turn does not wait
        for a load."""
        await asyncio.to_thread(self.manager.load, asr_model, task="asr")
        if speakers:
            await asyncio.to_thread(self.manager.load, self.speaker_model(), task=SPEAKER_TASK)

    def speaker_model(self) -> str:
        """The default speaker model's id (the one enrolled names are matched with)."""
        return self.manager.registry.default(SPEAKER_TASK).id

    async def embed(self, model: str, samples: np.ndarray) -> np.ndarray | None:
        """The unit speaker embedding of a turn, or None when it holds no voice to embed."""

        def run(encoder: SpeakerEncoder) -> np.ndarray | None:
            try:
                return encoder.embed(Audio.from_array(samples))
            except InvalidAudio:
                return None

        return await self.manager.infer(model, run, task=SPEAKER_TASK)

    async def glossary(self, model: str, namespace: str) -> list[str]:
        """The entries of ``model``'s stored glossary in ``namespace`` (none: empty)."""
        return await asyncio.to_thread(GlossaryStore(self.db).get, namespace, model)

    async def speaker_index(self, model: str, namespace: str) -> VoiceprintIndex:
        """Voiceprints enrolled with ``model`` in ``namespace`` (cached by the store, re-read
        when they change)."""
        return await asyncio.to_thread(enrolled_index, self.db, model, None, namespace)


_ENGINES: weakref.WeakKeyDictionary[ModelManager, LiveEngine] = weakref.WeakKeyDictionary()


def live_engine(manager: ModelManager, settings: Settings, db: Database) -> LiveEngine:
    """The one ``LiveEngine`` of a running service (so the session limit is shared)."""
    engine = _ENGINES.get(manager)
    if engine is None:
        engine = _ENGINES[manager] = LiveEngine(manager, settings, db)
    return engine
