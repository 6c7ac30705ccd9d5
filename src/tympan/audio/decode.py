"""Decode any input FFmpeg understands into one ``Audio``, enforcing limits while decoding.

PyAV demuxes and decodes; runs of decoded frames are converted to float32, down-mixed to mono
and fed to one streaming soxr resampler. The duration limit is checked frame by frame, so a tiny
file that expands to hours of audio is refused before the excess is ever held in memory, and
nothing is allocated from what a header claims.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import soxr

from tympan.audio.types import Audio, SourceInfo
from tympan.config import SAMPLE_RATE
from tympan.errors import AudioTooLong, InvalidAudio, UnsupportedMedia, UploadTooLarge
from tympan.tracing import span

__all__ = ["AudioInput", "decode_audio"]

AudioInput = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO
"""Anything ``decode_audio`` accepts: raw bytes, a path, or a binary file object."""

_MEDIA_PROBE_BYTES = 50_000_000  # let FFmpeg sniff formats with lying or odd headers


def _open_container(source: AudioInput) -> tuple[av.container.InputContainer, int, str | None]:
    """Open ``source`` with PyAV; returns the container, its byte size and its name."""
    name: str | None = None
    if isinstance(source, bytes | bytearray | memoryview):
        size = len(source)
        stream: BinaryIO | str = io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise InvalidAudio(f"No such audio file: {path}", param="file")
        size, stream, name = path.stat().st_size, str(path), path.name
    else:
        stream = source
        size = _remaining_bytes(source)
        name = getattr(source, "name", None)
    if size == 0:
        raise InvalidAudio("The audio file is empty.", param="file")
    try:
        container = av.open(stream, mode="r", options={"probesize": str(_MEDIA_PROBE_BYTES)})
    except av.error.FFmpegError as exc:
        raise InvalidAudio(
            f"Could not decode the audio: {_ffmpeg_reason(exc)}", param="file"
        ) from exc
    return container, size, name


def _remaining_bytes(handle: BinaryIO) -> int:
    try:
        position = handle.tell()
        end = handle.seek(0, io.SEEK_END)
        handle.seek(position)
        return end - position
    except (OSError, AttributeError):
        return -1


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


_RUN_SAMPLES = 1 << 16
"""Decoded frames are converted and resampled in runs of about this many samples per channel:
20 min of Opus is 62,000 frames of 13.5 ms, and NumPy and soxr called once per frame took as
long as decoding them (3.9 s against 1.9 s)."""


def _layout(frame: av.AudioFrame) -> tuple[str, bool, int]:
    """What decides how a frame's array becomes mono: sample format, planarity, channels."""
    return frame.format.name, frame.format.is_planar, len(frame.layout.channels)


class _MonoRun:
    """Consecutive decoded frames of one sample format, made mono float32 together."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.samples = 0
        self.layout: tuple[str, bool, int] | None = None  # format, planar, channels

    def fits(self, frame: av.AudioFrame) -> bool:
        """Whether ``frame`` can join the run: it is empty, or ``frame`` has its format."""
        return self.layout is None or _layout(frame) == self.layout

    def add(self, frame: av.AudioFrame) -> None:
        self.layout = _layout(frame)
        self.arrays.append(frame.to_ndarray())
        self.samples += frame.samples

    def take(self) -> np.ndarray:
        """The run as mono float32 (NaN/Inf made finite), emptying it."""
        assert self.layout is not None
        _, planar, channels = self.layout
        data = np.concatenate(self.arrays, axis=1)
        self.arrays, self.samples, self.layout = [], 0, None
        if not planar:
            data = data.reshape(-1, channels).T
        if data.dtype.kind in "iu":
            scale = float(np.iinfo(data.dtype).max) + 1.0
            offset = scale if data.dtype.kind == "u" else 0.0
            data = (data.astype(np.float32) - offset) / scale
        mono = data.mean(axis=0, dtype=np.float64) if channels > 1 else data[0]
        mono = np.asarray(mono, dtype=np.float32)
        # NaN/Inf samples (seen in hostile float WAVs) would poison every later computation.
        return np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)


def decode_audio(
    source: AudioInput,
    *,
    max_seconds: float | None = None,
    max_bytes: int | None = None,
) -> Audio:
    """Decode ``source`` into 16 kHz mono float32 ``Audio`` (the ``decode`` span of a trace).

    Raises ``InvalidAudio`` (400) for empty or undecodable input, ``UnsupportedMedia`` (400)
    for media without an audio stream, ``UploadTooLarge`` / ``AudioTooLong`` (413) past limits.
    """
    with span("decode") as stage:
        audio = _decode(source, max_seconds, max_bytes)
        stage.set(audio_seconds=round(audio.duration, 3), codec=audio.source.codec)
        return audio


def _decode(source: AudioInput, max_seconds: float | None, max_bytes: int | None) -> Audio:
    container, size, name = _open_container(source)
    if max_bytes is not None and size > max_bytes:
        container.close()
        raise UploadTooLarge(f"The file is {size} bytes; the limit is {max_bytes}.", param="file")
    with container:
        if not container.streams.audio:
            raise UnsupportedMedia(
                f"The file ({container.format.name}) has no audio stream.", param="file"
            )
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        input_rate = stream.codec_context.sample_rate or stream.rate or 0
        resampler: soxr.ResampleStream | None = None
        chunks: list[np.ndarray] = []
        run = _MonoRun()
        decoded_seconds = 0.0
        channels = stream.codec_context.channels or 1

        def convert(last: bool = False) -> None:
            mono = run.take() if run.arrays else np.zeros(0, np.float32)
            chunks.append(resampler.resample_chunk(mono, last=last) if resampler else mono)

        try:
            for frame in container.decode(stream):
                rate = frame.sample_rate or input_rate
                if decoded_seconds == 0.0:
                    input_rate, channels = rate, len(frame.layout.channels)
                    if input_rate != SAMPLE_RATE:
                        resampler = soxr.ResampleStream(
                            input_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
                        )
                decoded_seconds += frame.samples / rate
                if max_seconds is not None and decoded_seconds > max_seconds:
                    raise AudioTooLong(
                        f"The audio is longer than the {max_seconds:g} s limit.", param="file"
                    )
                if not run.fits(frame):
                    convert()
                run.add(frame)
                if run.samples >= _RUN_SAMPLES:
                    convert()
        except av.error.FFmpegError as exc:
            if not chunks and not run.arrays:
                raise InvalidAudio(
                    f"Could not decode the audio: {_ffmpeg_reason(exc)}", param="file"
                ) from exc
            # A truncated tail after real audio: keep what decoded, as FFmpeg's CLI does.
        if run.arrays or resampler is not None:
            convert(last=True)
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        if samples.size == 0:
            raise InvalidAudio("The file holds no audio samples.", param="file")
        info = SourceInfo(
            container=container.format.name,
            codec=stream.codec_context.name,
            sample_rate=int(input_rate),
            channels=int(channels),
            num_bytes=max(size, 0),
            name=name,
        )
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), SAMPLE_RATE, info)
