"""The boundary outwards: float32 mono audio in, the bytes of a media format out.

One encoder serves every capability that answers with audio (speech synthesis, music): the
OpenAI ``response_format`` names (mp3, opus, aac, flac, wav, pcm) are the formats. Each
``AudioEncoder`` muxes with PyAV into a write-only sink that is drained after every
chunk, so the bytes of the first sentence leave before the next one is synthesised. The sink
cannot seek, so FFmpeg writes stream-friendly headers: WAV sizes stay 0xFFFFFFFF (as in
OpenAI's own streamed WAV), FLAC's STREAMINFO leaves the total length unknown, MP3 gets no
Xing index; every decoder reads them to the end. Ogg pages are cut every 200 ms instead of
FFmpeg's 1 s so Opus streams as smoothly as the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import av
import numpy as np
import soxr

__all__ = ["FORMATS", "PCM_RATE", "AudioEncoder", "EncodedFormat", "OutputFormat", "encode_audio"]

EncodedFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

PCM_RATE = 24_000
"""OpenAI documents ``pcm`` as raw 24 kHz 16-bit signed little-endian mono."""

OPUS_RATE = 24_000
"""Opus encodes only 8, 12, 16, 24 or 48 kHz; 24 kHz matches OpenAI's output."""


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """How one ``response_format`` is produced: container, codec, media type, output rate."""

    container: str | None
    codec: str | None
    media_type: str
    rate: int | None = None
    """Fixed output rate; ``None`` keeps the voice's native rate (no resampling)."""
    options: tuple[tuple[str, str], ...] = ()
    bit_rate: int | None = None
    """Codec bit rate; ``None`` keeps FFmpeg's default."""


FORMATS: dict[str, OutputFormat] = {
    # LAME's default for 22.05 kHz mono is 32 kbit/s, audibly thin; 64 kbit/s is clean speech.
    "mp3": OutputFormat("mp3", "libmp3lame", "audio/mpeg", bit_rate=64_000),
    "opus": OutputFormat("ogg", "libopus", "audio/ogg", OPUS_RATE, (("page_duration", "200000"),)),
    "aac": OutputFormat("adts", "aac", "audio/aac"),
    "flac": OutputFormat("flac", "flac", "audio/flac"),
    "wav": OutputFormat("wav", "pcm_s16le", "audio/wav"),
    "pcm": OutputFormat(None, None, "audio/pcm", PCM_RATE),
}


class _Sink:
    """A write-only byte buffer (no ``seek``, so muxers write stream-friendly headers)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _to_int16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class AudioEncoder:
    """Encodes consecutive float32 mono chunks at ``rate`` into one ``fmt`` byte stream."""

    def __init__(self, fmt: EncodedFormat, rate: int) -> None:
        self.format = FORMATS[fmt]
        self.rate = self.format.rate or rate
        self._resampler = (
            soxr.ResampleStream(rate, self.rate, 1, dtype="float32") if self.rate != rate else None
        )
        self._sink = _Sink()
        self._container = None
        self._stream = None
        if self.format.container is not None:
            self._container = av.open(
                self._sink,
                mode="w",
                format=self.format.container,
                options=dict(self.format.options),
            )
            self._stream = self._container.add_stream(
                self.format.codec, rate=self.rate, layout="mono"
            )
            if self.format.bit_rate:
                self._stream.bit_rate = self.format.bit_rate

    def encode(self, samples: np.ndarray) -> bytes:
        """The bytes ready after adding ``samples`` (may be empty while the codec buffers)."""
        return self._write(self._resample(samples, last=False))

    def finish(self) -> bytes:
        """Flush the resampler, the codec and the container; the stream's last bytes."""
        data = self._write(self._resample(np.zeros(0, np.float32), last=True))
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        return data + self._sink.drain()

    def _resample(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self._resampler is None:
            return samples
        return self._resampler.resample_chunk(samples, last=last)

    def _write(self, samples: np.ndarray) -> bytes:
        if self._container is None:
            return _to_int16(samples)
        if samples.size:
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate = self.rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.drain()


def encode_audio(samples: np.ndarray, rate: int, fmt: EncodedFormat) -> bytes:
    """A whole recording encoded in one go (the non-streaming use of ``AudioEncoder``)."""
    encoder = AudioEncoder(fmt, rate)
    return encoder.encode(samples) + encoder.finish()
