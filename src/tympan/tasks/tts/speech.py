"""One request's text as encoded audio, one sentence per step.

The model's part and the stream's part are apart, so the model can run wherever the service
keeps it (the inference pool here, or a Ray Serve replica) through the same functions:
``plan_speech`` phonemises the text (fast, so "nothing to say" is an error before any byte) and
``speak_chunk`` renders one chunk, both given the loaded ``PiperSynthesizer``; ``SpeechStream``
holds what is left to say and the response's encoder (stateful for mp3, opus, ...), and encodes
each rendered chunk. Every step is one bounded unit of model work, so the API sends a sentence's
bytes before the next is rendered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from tympan.audio.encode import FORMATS, AudioEncoder, EncodedFormat
from tympan.errors import BadRequest, InvalidParameter
from tympan.tasks.tts.synthesis import PiperSynthesizer
from tympan.tasks.tts.tempo import change_tempo
from tympan.tasks.tts.text import clean_text

__all__ = [
    "MAX_SPEED",
    "MIN_SPEED",
    "SpeechOptions",
    "SpeechPlan",
    "SpeechStream",
    "plan_speech",
    "speak_chunk",
]

MIN_SPEED, MAX_SPEED = 0.25, 4.0


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    """How to speak: OpenAI's ``speed`` (0.25-4.0) and ``response_format``."""

    speed: float = 1.0
    response_format: EncodedFormat = "mp3"

    def validate(self) -> None:
        """``InvalidParameter`` (400) for a speed or format OpenAI would refuse."""
        if not MIN_SPEED <= self.speed <= MAX_SPEED:
            raise InvalidParameter(
                f"speed must be between {MIN_SPEED} and {MAX_SPEED}.", param="speed"
            )
        if self.response_format not in FORMATS:
            raise InvalidParameter(
                f"response_format must be one of {', '.join(FORMATS)}.", param="response_format"
            )


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    """A text made ready to speak: its phoneme chunks (a sentence or less each) and the
    voice's sample rate."""

    chunks: list[list[str]]
    sample_rate: int


def plan_speech(synthesizer: PiperSynthesizer, text: str, options: SpeechOptions) -> SpeechPlan:
    """Check ``options`` and phonemise ``text``; 400 when nothing in it can be spoken."""
    options.validate()
    chunks = synthesizer.phonemize(clean_text(text))
    if not chunks:
        raise BadRequest(
            "input has nothing speakable (only punctuation, symbols or markup).",
            param="input",
            code="nothing_to_speak",
        )
    return SpeechPlan(chunks, synthesizer.sample_rate)


def speak_chunk(synthesizer: PiperSynthesizer, phonemes: list[str], speed: float) -> np.ndarray:
    """The audio of one chunk at ``speed``."""
    return change_tempo(synthesizer.render(phonemes), synthesizer.sample_rate, speed)


class SpeechStream:
    """What is left to say of one planned text, and the response's encoder."""

    def __init__(self, plan: SpeechPlan, options: SpeechOptions) -> None:
        self.options = options
        self.media_type = FORMATS[options.response_format].media_type
        self._pending = deque(plan.chunks)
        self._encoder = AudioEncoder(options.response_format, plan.sample_rate)

    @property
    def sample_rate(self) -> int:
        """The rate of the encoded audio (the voice's, or the format's fixed rate)."""
        return self._encoder.rate

    def next_phonemes(self) -> list[str] | None:
        """The next chunk to render (with ``speak_chunk``); ``None`` once all were taken."""
        return self._pending.popleft() if self._pending else None

    def encode(self, audio: np.ndarray) -> bytes:
        """The encoded bytes of a rendered chunk (may be empty while the encoder buffers)."""
        return self._encoder.encode(audio)

    def finish(self) -> bytes:
        """What the encoder still holds, once every chunk was encoded."""
        return self._encoder.finish()
