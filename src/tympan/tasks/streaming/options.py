"""What a live session may set: the input format, the model, turn detection, speaker names."""

from __future__ import annotations

from dataclasses import dataclass, field

from tympan.audio.stream import PcmFormat
from tympan.errors import InvalidParameter

__all__ = ["LiveOptions", "TurnDetection"]


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Server VAD (OpenAI's ``server_vad`` fields and defaults): when a turn starts and ends.

    A turn starts when Silero's probability reaches ``threshold``, keeps
    ``prefix_padding_ms`` of audio before that, and ends after ``silence_duration_ms`` below
    it. ``idle_timeout_ms`` commits the buffer when nobody has spoken for that long.
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None

    def validate(self) -> None:
        """``InvalidParameter`` (400) for values out of OpenAI's ranges."""
        if not 0.0 < self.threshold < 1.0:
            raise InvalidParameter("threshold must be between 0 and 1.", param="threshold")
        if not 0 <= self.prefix_padding_ms <= 5_000:
            raise InvalidParameter("prefix_padding_ms must be 0-5000.", param="prefix_padding_ms")
        if not 0 <= self.silence_duration_ms <= 10_000:
            raise InvalidParameter(
                "silence_duration_ms must be 0-10000.", param="silence_duration_ms"
            )
        if self.idle_timeout_ms is not None and not 5_000 <= self.idle_timeout_ms <= 30_000:
            raise InvalidParameter(
                "idle_timeout_ms must be 5000-30000 (as OpenAI's).", param="idle_timeout_ms"
            )


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """A live transcription session's settings; ``turn_detection`` None = manual commits."""

    format: PcmFormat = field(default_factory=PcmFormat)
    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    logprobs: bool = False
    speakers: bool = False
    """Tympan's extension: name the speaker of every turn (enrolled name or SPEAKER_n)."""
    noise_reduction: str | None = None
    """``near_field``, ``far_field`` or an enhancement model id: incoming audio is enhanced
    (streamed, block by block) before VAD and decoding; None leaves it as it comes."""

    def validate(self) -> None:
        """``InvalidParameter`` (400) for a bad turn detection or an over-long prompt."""
        if self.turn_detection is not None:
            self.turn_detection.validate()
        if self.prompt is not None and len(self.prompt) > 4000:
            raise InvalidParameter("prompt may be up to 4000 characters.", param="prompt")
