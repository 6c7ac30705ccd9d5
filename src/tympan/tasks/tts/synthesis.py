"""Piper synthesis: text to phoneme chunks, one chunk to float32 audio.

``PiperVoice.load`` always runs onnxruntime on every core; Tympan builds the session itself so
a voice honours ``cpu_threads`` like every other model, then uses Piper's own phonemiser
(espeak-ng, which also splits sentences) and its ``phoneme_ids_to_audio``.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
from piper import PiperVoice
from piper.config import PiperConfig

from tympan.tasks.tts.voices import Voice

__all__ = ["MAX_CHUNK_PHONEMES", "PEAK_LEVEL", "PiperSynthesizer", "split_long"]

MAX_CHUNK_PHONEMES = 300
"""Longer sentences are cut at a word boundary: VITS's text encoder attends over the whole
input, so one 2,400-phoneme run-on sentence renders ~3x slower per second of audio than the
same words in short chunks, and it would hold back the stream's first bytes."""

PEAK_LEVEL = 0.95
"""Each chunk is peak-normalised like Piper does, a little under full scale so lossy codecs'
overshoot does not clip."""


def split_long(phonemes: list[str], limit: int = MAX_CHUNK_PHONEMES) -> list[list[str]]:
    """``phonemes`` in pieces of at most ``limit``, cut after the last space when there is one."""
    pieces = []
    while len(phonemes) > limit:
        window = phonemes[:limit]
        cut = len(window) - window[::-1].index(" ") if " " in window[1:] else limit
        pieces.append(phonemes[:cut])
        phonemes = phonemes[cut:]
    return [*pieces, phonemes] if phonemes else pieces


class PiperSynthesizer:
    """A loaded Piper voice: ``phonemize`` text into chunks, ``render`` a chunk to audio."""

    def __init__(self, voice: Voice, threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(voice.model_path), options, providers=["CPUExecutionProvider"]
        )
        config = PiperConfig.from_dict(json.loads(voice.config_path.read_text(encoding="utf-8")))
        self.voice = voice
        self.piper = PiperVoice(session=session, config=config)

    @property
    def sample_rate(self) -> int:
        return self.piper.config.sample_rate

    def phonemize(self, text: str) -> list[list[str]]:
        """Phonemes of ``text``, one list per sentence (long ones cut), empty ones dropped."""
        return [
            piece
            for sentence in self.piper.phonemize(text)
            if any(phoneme.isalpha() for phoneme in sentence)
            for piece in split_long(sentence)
        ]

    def render(self, phonemes: list[str]) -> np.ndarray:
        """float32 mono audio at ``sample_rate`` for one chunk, at the voice's natural pace."""
        ids = self.piper.phonemes_to_ids(phonemes)
        audio = np.asarray(self.piper.phoneme_ids_to_audio(ids), dtype=np.float32)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < 1e-8:
            return np.zeros_like(audio)
        return audio * (PEAK_LEVEL / peak)
