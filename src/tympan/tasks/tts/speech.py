"""``SpeechStream``: one request's text as encoded audio, one sentence per step.

Each ``next_chunk`` call is one bounded unit of work (synthesise one chunk, encode it), so the
API can run every step in the inference pool with the model leased and send the bytes before
the next sentence is rendered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from tympan.audio.encode import FORMATS, AudioEncoder, EncodedFormat
from tympan.errors import BadRequest, InvalidParameter
from tympan.tasks.tts.synthesis import PiperSynthesizer
from tympan.tasks.tts.tempo import change_tempo
from tympan.tasks.tts.text import clean_text

__all__ = ["MAX_SPEED", "MIN_SPEED", "SpeechOptions", "SpeechStream"]

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


class SpeechStream:
    """The encoded audio of one text, produced chunk by chunk."""

    def __init__(self, synthesizer: PiperSynthesizer, text: str, options: SpeechOptions) -> None:
        """Phonemise ``text`` now (fast), so "nothing to say" is an error before any byte."""
        options.validate()
        chunks = synthesizer.phonemize(clean_text(text))
        if not chunks:
            raise BadRequest(
                "input has nothing speakable (only punctuation, symbols or markup).",
                param="input",
                code="nothing_to_speak",
            )
        self.options = options
        self.chunk_count = len(chunks)
        self.media_type = FORMATS[options.response_format].media_type
        self._pending = deque(chunks)
        self._encoder = AudioEncoder(options.response_format, synthesizer.sample_rate)
        self._finished = False

    @property
    def sample_rate(self) -> int:
        """The rate of the encoded audio (the voice's, or the format's fixed rate)."""
        return self._encoder.rate

    def next_chunk(self, synthesizer: PiperSynthesizer) -> bytes | None:
        """The next non-empty bytes of the stream; ``None`` once it is complete."""
        while self._pending:
            audio = synthesizer.render(self._pending.popleft())
            data = self._encoder.encode(
                change_tempo(audio, synthesizer.sample_rate, self.options.speed)
            )
            if data:
                return data
        if self._finished:
            return None
        self._finished = True
        return self._encoder.finish() or None

    def iter_bytes(self, synthesizer: PiperSynthesizer) -> Iterator[bytes]:
        """Every chunk in turn, in this thread (for direct, in-process use)."""
        while (chunk := self.next_chunk(synthesizer)) is not None:
            yield chunk
