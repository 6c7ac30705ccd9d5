"""Live audio: a stream of PCM chunks in, turn events out (the one streaming core).

Silero VAD scores only the new frames as audio arrives (its state carried over), server VAD
finds the turns, partial decodes of the open turn give delta events, and each finished turn
is decoded through the same per-model ASR batching queue as file requests, then named by its
speaker embedding. The OpenAI Realtime WebSocket, the Wyoming server and ``tympan listen`` are
thin adapters over ``LiveSession``.
"""

from __future__ import annotations

from tympan.tasks.streaming.decoding import TurnDecoder
from tympan.tasks.streaming.engine import LiveEngine, live_engine
from tympan.tasks.streaming.events import (
    Cleared,
    Committed,
    LiveEvent,
    SessionError,
    SpeakerSegment,
    SpeechStarted,
    SpeechStopped,
    TimeoutTriggered,
    TokenLogprob,
    TranscriptCompleted,
    TranscriptDelta,
    TranscriptFailed,
)
from tympan.tasks.streaming.labels import SpeakerLabeller
from tympan.tasks.streaming.options import LiveOptions, TurnDetection
from tympan.tasks.streaming.partials import PartialText
from tympan.tasks.streaming.session import LiveSession
from tympan.tasks.streaming.tracker import new_item_id
from tympan.tasks.streaming.turns import TurnBoundary, TurnDetector

__all__ = [
    "Cleared",
    "Committed",
    "LiveEngine",
    "LiveEvent",
    "LiveOptions",
    "LiveSession",
    "PartialText",
    "SessionError",
    "SpeakerLabeller",
    "SpeakerSegment",
    "SpeechStarted",
    "SpeechStopped",
    "TimeoutTriggered",
    "TokenLogprob",
    "TranscriptCompleted",
    "TranscriptDelta",
    "TranscriptFailed",
    "TurnBoundary",
    "TurnDecoder",
    "TurnDetection",
    "TurnDetector",
    "live_engine",
    "new_item_id",
]
