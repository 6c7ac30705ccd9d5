import io

import av
import numpy as np
import pytest

from tympan.audio import decode_audio
from tympan.audio.encode import FORMATS, PCM_RATE, AudioEncoder

RATE = 22_050


def _decode(data: bytes, fmt: str) -> tuple[np.ndarray, float]:
    """Samples and duration of ``data`` decoded by PyAV (``pcm`` read as OpenAI documents it)."""
    if fmt == "pcm":
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768
        return samples, len(samples) / PCM_RATE
    audio = decode_audio(data)
    return audio.samples, audio.duration


def _stream_rate(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return container.streams.audio[0].rate


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_streams_and_decodes_to_the_input_duration(fmt):
    chunks = [_tone(0.7), _tone(1.3), _tone(0.45)]
    encoder = AudioEncoder(fmt, RATE)
    parts = [encoder.encode(chunk) for chunk in chunks]
    parts.append(encoder.finish())
    assert sum(1 for part in parts[:-1] if part) >= 2, "bytes must leave before the end"
    data = b"".join(parts)
    samples, duration = _decode(data, fmt)
    assert duration == pytest.approx(2.45, abs=0.06)
    assert encoder.rate == (FORMATS[fmt].rate or RATE)
    if fmt != "pcm":
        assert _stream_rate(data) in (encoder.rate, 48_000)  # Ogg Opus always decodes at 48k
    assert 0.3 < np.sqrt(np.mean(samples**2)) < 0.4  # the 0.5 sine (RMS 0.354), not noise


def test_pcm_is_24khz_signed_16_bit_little_endian():
    encoder = AudioEncoder("pcm", RATE)
    data = encoder.encode(_tone(1.0)) + encoder.finish()
    assert len(data) % 2 == 0
    assert len(data) / 2 == pytest.approx(PCM_RATE, abs=2)
    samples = np.frombuffer(data, "<i2")
    assert 15_000 < np.abs(samples).max() < 17_500  # 0.5 of full scale


def test_wav_header_is_stream_style():
    encoder = AudioEncoder("wav", RATE)
    data = encoder.encode(_tone(0.2)) + encoder.finish()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert int.from_bytes(data[4:8], "little") == 0xFFFFFFFF  # unknown length, like OpenAI's
