"""What a live session may set: the input format, the model, turn detection, speaker names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tympan.audio.stream import PcmFormat
from tympan.errors import InvalidParameter

__all__ = ["EAGERNESS_WAITS_MS", "Eagerness", "LiveOptions", "TurnDetection"]

Eagerness = Literal["low", "medium", "high", "auto"]

EAGERNESS_WAITS_MS: dict[str, tuple[int, int]] = {
    "high": (200, 2_000),
    "medium": (300, 4_000),
    "low": (500, 8_000),
}
"""``semantic_vad``: (silence after a turn whose text ends a sentence, longest silence) per
eagerness; the longest are OpenAI's documented timeouts, ``auto`` is ``medium``."""


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Turn detection with OpenAI's fields and defaults: when a turn starts and ends.

    A turn starts when Silero's probability reaches ``threshold`` and keeps
    ``prefix_padding_ms`` of audio before that. ``server_vad`` ends it after
    ``silence_duration_ms`` below the threshold. ``semantic_vad`` ends it when its text says
    the speaker has finished (a sentence ends) and a short silence has passed, else after the
    longest silence; ``eagerness`` sets both (``EAGERNESS_WAITS_MS``). ``idle_timeout_ms``
    commits the buffer when nobody has spoken for that long.
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    eagerness: Eagerness = "auto"

    @property
    def semantic(self) -> bool:
        """Whether the turn's text decides when it ends (``semantic_vad``)."""
        return self.type == "semantic_vad"

    @property
    def longest_silence_ms(self) -> int:
        """The silence that ends a turn whatever its text says."""
        if not self.semantic:
            return self.silence_duration_ms
        return EAGERNESS_WAITS_MS[_level(self.eagerness)][1]

    @property
    def finished_silence_ms(self) -> int:
        """The silence that ends a turn whose text ends a sentence (``semantic_vad``)."""
        if not self.semantic:
            return self.silence_duration_ms
        return EAGERNESS_WAITS_MS[_level(self.eagerness)][0]

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
        if self.eagerness not in ("auto", *EAGERNESS_WAITS_MS):
            raise InvalidParameter(
                "eagerness must be low, medium, high or auto.", param="eagerness"
            )


def _level(eagerness: Eagerness) -> str:
    return "medium" if eagerness == "auto" else eagerness


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
