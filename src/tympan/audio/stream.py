"""The boundary for live audio: raw PCM or G.711 bytes, chunk by chunk, into 16 kHz float32.

Live protocols send headerless audio in small pieces (OpenAI Realtime: 24 kHz 16-bit PCM,
G.711 mu-law or A-law at 8 kHz; Wyoming: any rate, width and channel count). ``PcmDecoder``
keeps what a chunk leaves over (half a sample, the resampler's tail) for the next one, so the
samples it returns are the same however the stream was cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import soxr

from tympan.config import SAMPLE_RATE
from tympan.errors import InvalidParameter

__all__ = ["PcmDecoder", "PcmEncoding", "PcmFormat"]

PcmEncoding = Literal["pcm16", "mulaw", "alaw"]
_G711_RATE = 8_000
_MAX_CHANNELS = 8


def _mulaw_table() -> np.ndarray:
    """ITU-T G.711 mu-law: byte -> linear 16-bit value."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    """ITU-T G.711 A-law: byte -> linear 16-bit value."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.float32) / 32768.0


_TABLES = {"mulaw": _mulaw_table(), "alaw": _alaw_table()}


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """Headerless audio: ``pcm16`` little-endian at ``rate``, or G.711 (always 8 kHz)."""

    encoding: PcmEncoding = "pcm16"
    rate: int = 24_000
    channels: int = 1

    def __post_init__(self) -> None:
        if self.encoding not in ("pcm16", *_TABLES):
            raise InvalidParameter(f"Unknown audio encoding {self.encoding!r}.", param="format")
        if not 8_000 <= self.rate <= 192_000:
            raise InvalidParameter("The audio rate must be 8000-192000 Hz.", param="rate")
        if self.encoding != "pcm16" and self.rate != _G711_RATE:
            raise InvalidParameter("G.711 audio is 8000 Hz.", param="rate")
        if not 1 <= self.channels <= _MAX_CHANNELS:
            raise InvalidParameter(f"channels must be 1-{_MAX_CHANNELS}.", param="channels")

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample of every channel."""
        return (2 if self.encoding == "pcm16" else 1) * self.channels

    def seconds(self, num_bytes: int) -> float:
        """How long ``num_bytes`` of this format play."""
        return num_bytes / self.frame_bytes / self.rate


class PcmDecoder:
    """Turns a stream of byte chunks into mono float32 samples at ``SAMPLE_RATE``."""

    def __init__(self, fmt: PcmFormat) -> None:
        self.format = fmt
        self._leftover = b""
        self._resampler = (
            None
            if fmt.rate == SAMPLE_RATE
            else soxr.ResampleStream(fmt.rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        )

    def decode(self, data: bytes, *, last: bool = False) -> np.ndarray:
        """The samples of ``data`` (and of what earlier chunks left); ``last`` flushes."""
        data = self._leftover + data
        usable = len(data) - len(data) % self.format.frame_bytes
        self._leftover = data[usable:]
        raw = np.frombuffer(data[:usable], np.uint8)
        if self.format.encoding == "pcm16":
            samples = raw.view("<i2").astype(np.float32) / 32768.0
        else:
            samples = _TABLES[self.format.encoding][raw]
        if self.format.channels > 1:
            samples = samples.reshape(-1, self.format.channels).mean(axis=1)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return np.ascontiguousarray(samples, dtype=np.float32)
