"""What a live session tells its client, independent of the protocol that carries it.

Times are in seconds from the start of the session's audio. The OpenAI Realtime adapter, the
Wyoming server and ``tympan listen`` each translate these records into their own messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tympan.errors import TympanError

__all__ = [
    "Cleared",
    "Committed",
    "LiveEvent",
    "SessionError",
    "SpeakerSegment",
    "SpeechStarted",
    "SpeechStopped",
    "TimeoutTriggered",
    "TokenLogprob",
    "TranscriptCompleted",
    "TranscriptDelta",
    "TranscriptFailed",
]


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Server VAD heard a turn begin (``start`` includes the prefix padding)."""

    item_id: str
    start: float


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Server VAD heard the turn end at ``end`` (the end of its last speech frame)."""

    item_id: str
    end: float


@dataclass(frozen=True, slots=True)
class TimeoutTriggered:
    """Nobody spoke for the idle timeout; the audio between ``start`` and ``end`` is committed."""

    item_id: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Committed:
    """A turn's audio is final and on its way to the model."""

    item_id: str
    previous_item_id: str | None


@dataclass(frozen=True, slots=True)
class Cleared:
    """The uncommitted audio was dropped at the client's request."""


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """More text of a turn: words the partial decodes agree on, then the rest at the end."""

    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One word of the final text and its log probability (Whisper's word probability)."""

    token: str
    logprob: float


@dataclass(frozen=True, slots=True)
class SpeakerSegment:
    """A turn with its speaker: an enrolled name or the session's ``SPEAKER_n``."""

    item_id: str
    start: float
    end: float
    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptCompleted:
    """A turn's final text; ``seconds`` of audio were transcribed for it."""

    item_id: str
    transcript: str
    start: float
    end: float
    seconds: float
    language: str
    speaker: str | None = None
    logprobs: list[TokenLogprob] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class TranscriptFailed:
    """A turn could not be transcribed; the session goes on."""

    item_id: str
    error: TympanError


@dataclass(frozen=True, slots=True)
class SessionError:
    """A client event was refused (``event_id`` names it when the client gave one)."""

    error: TympanError
    event_id: str | None = None


LiveEvent = (
    SpeechStarted
    | SpeechStopped
    | TimeoutTriggered
    | Committed
    | Cleared
    | TranscriptDelta
    | SpeakerSegment
    | TranscriptCompleted
    | TranscriptFailed
    | SessionError
)
