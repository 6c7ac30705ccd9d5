"""The audio boundary: every format decodes once to 16 kHz mono; limits hold while decoding."""

from __future__ import annotations

import io
import tracemalloc

import av
import numpy as np
import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import Audio, decode_audio
from tympan.errors import AudioTooLong, InvalidAudio, UnsupportedMedia, UploadTooLarge

BAD = EVAL_DIR / "bad_inputs"


def _encode(samples: np.ndarray, rate: int, codec: str, fmt: str, layout: str = "mono") -> bytes:
    """Encode float samples (channels x n) with PyAV into an in-memory file."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("name", "duration"),
    [
        ("speech.opus", 1.9),
        ("speech.m4a", 1.9),
        ("speech.ogg", 1.9),
        ("stereo_44k.mp3", 1.9),
        ("telephone_mulaw.wav", 1.9),
        ("eight_channels_96k.wav", 0.5),
        ("lying_header.wav", 1.0),
    ],
)
def test_formats_decode_to_16k_mono(name: str, duration: float) -> None:
    audio = decode_audio(BAD / name)
    assert audio.sample_rate == 16_000
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.duration == pytest.approx(duration, abs=0.1)
    assert np.isfinite(audio.samples).all()
    assert audio.source.name == name


def test_source_info_describes_the_original() -> None:
    audio = decode_audio(BAD / "eight_channels_96k.wav")
    assert (audio.source.sample_rate, audio.source.channels) == (96_000, 8)


def test_real_speech_keeps_its_length(eval_dir) -> None:
    row = read_manifest("asr_ljspeech")[0]
    audio = decode_audio(eval_dir / "asr_ljspeech" / row["audio"])
    with av.open(str(eval_dir / "asr_ljspeech" / row["audio"])) as container:
        stream = container.streams.audio[0]
        expected = float(stream.duration * stream.time_base)
    assert audio.duration == pytest.approx(expected, abs=0.02)


def test_resampling_keeps_pitch_and_level() -> None:
    data = _encode(_tone(1000.0, 1.0, 44_100)[None], 44_100, "flac", "flac")
    audio = decode_audio(data)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * 16_000 / audio.samples.size
    assert peak_hz == pytest.approx(1000.0, abs=2.0)
    assert np.max(np.abs(audio.samples[1000:-1000])) == pytest.approx(0.5, abs=0.02)


def test_stereo_is_averaged_to_mono() -> None:
    left, right = _tone(440.0, 0.5, 16_000), np.zeros(8000, np.float32)
    audio = decode_audio(_encode(np.stack([left, right]), 16_000, "pcm_f32le", "wav", "stereo"))
    np.testing.assert_allclose(audio.samples, left / 2, atol=1e-6)


def test_nan_and_inf_samples_become_finite() -> None:
    audio = decode_audio(BAD / "nan_inf_float.wav")
    assert np.isfinite(audio.samples).all()


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("empty.wav", InvalidAudio),
        ("text_named.wav", InvalidAudio),
        ("random_bytes.mp3", InvalidAudio),
        ("truncated.flac", InvalidAudio),
        ("header_only.wav", InvalidAudio),
        ("image_named.flac", UnsupportedMedia),
        ("video_only.mp4", UnsupportedMedia),
    ],
)
def test_bad_files_raise_clear_errors(name: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        decode_audio((BAD / name).read_bytes())
    assert info.value.message


def test_duration_limit_stops_decoding_early_without_memory_growth() -> None:
    data = (BAD / "silence_3h.flac").read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLong):
            decode_audio(data, max_seconds=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 60 s of 16 kHz float32 is 3.8 MB; 3 h would be 690 MB.
    assert peak < 40 * 1024 * 1024


def test_byte_limit() -> None:
    with pytest.raises(UploadTooLarge):
        decode_audio(BAD / "speech.ogg", max_bytes=100)


def test_missing_path_is_invalid_audio(tmp_path) -> None:
    with pytest.raises(InvalidAudio):
        decode_audio(tmp_path / "nope.wav")


def test_file_objects_decode() -> None:
    with (BAD / "speech.ogg").open("rb") as handle:
        assert decode_audio(handle).duration == pytest.approx(1.9, abs=0.1)


def test_audio_type_rejects_wrong_arrays() -> None:
    with pytest.raises(ValueError):
        Audio(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError):
        Audio.from_array(np.zeros(10), sample_rate=8000)
    audio = Audio.from_array(np.arange(16_000, dtype=np.float64))
    assert audio.slice(0.25, 0.5).samples.shape == (4000,)
