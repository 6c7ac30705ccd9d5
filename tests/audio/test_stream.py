"""Live PCM and G.711 bytes become the same 16 kHz samples however the stream is cut."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import soxr

from tests.conftest import EVAL_DIR
from tympan.audio import decode_audio
from tympan.audio.stream import PcmDecoder, PcmFormat
from tympan.errors import InvalidParameter

with warnings.catch_warnings():  # the reference G.711 codec: deprecated, still in 3.11 and 3.12
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = importlib.import_module("audioop")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return decode_audio(EVAL_DIR / "diarization" / "sample.wav").samples[: 16_000 * 4]


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _decode_in_pieces(decoder: PcmDecoder, data: bytes, sizes: list[int]) -> np.ndarray:
    out, start = [], 0
    while start < len(data):
        size = sizes[len(out) % len(sizes)]
        out.append(decoder.decode(data[start : start + size]))
        start += size
    out.append(decoder.decode(b"", last=True))
    return np.concatenate(out)


def test_pcm16_at_24khz_cut_anywhere_matches_one_resampling_of_the_whole(speech):
    at_24k = soxr.resample(speech, 16_000, 24_000)
    data = _pcm16(at_24k)
    streamed = _decode_in_pieces(PcmDecoder(PcmFormat("pcm16", 24_000)), data, [4801, 3, 960])
    whole = soxr.resample(np.frombuffer(data, "<i2").astype(np.float32) / 32768, 24_000, 16_000)
    assert abs(streamed.shape[0] - whole.shape[0]) <= 2
    n = min(streamed.shape[0], whole.shape[0])
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 1e-3
    assert np.corrcoef(streamed[:n], speech[:n])[0, 1] > 0.99


def test_pcm16_at_16khz_is_passed_through_exactly(speech):
    data = _pcm16(speech)
    streamed = _decode_in_pieces(PcmDecoder(PcmFormat("pcm16", 16_000)), data, [999, 2])
    np.testing.assert_array_equal(streamed, np.frombuffer(data, "<i2").astype(np.float32) / 32768)


@pytest.mark.parametrize(
    ("encoding", "to_linear", "from_linear"),
    [
        ("mulaw", audioop.ulaw2lin, audioop.lin2ulaw),
        ("alaw", audioop.alaw2lin, audioop.lin2alaw),
    ],
)
def test_g711_decodes_as_the_reference_codec(speech, encoding, to_linear, from_linear):
    at_8k = soxr.resample(speech, 16_000, 8_000)
    coded = from_linear(_pcm16(at_8k), 2)
    reference = np.frombuffer(to_linear(coded, 2), "<i2").astype(np.float32) / 32768
    decoder = PcmDecoder(PcmFormat(encoding, 8_000))
    streamed = _decode_in_pieces(decoder, coded, [160, 7])
    expected = soxr.resample(reference, 8_000, 16_000)
    n = min(streamed.shape[0], expected.shape[0])
    assert abs(streamed.shape[0] - expected.shape[0]) <= 2
    assert np.max(np.abs(streamed[:n] - expected[:n])) < 1e-3


def test_stereo_is_mixed_down(speech):
    left = _pcm16(speech)
    stereo = np.stack([np.frombuffer(left, "<i2")] * 2, axis=1).tobytes()
    mono = PcmDecoder(PcmFormat("pcm16", 16_000, channels=2)).decode(stereo)
    np.testing.assert_allclose(mono, np.frombuffer(left, "<i2").astype(np.float32) / 32768)


@pytest.mark.parametrize(
    "fmt",
    [
        {"encoding": "opus"},
        {"encoding": "mulaw", "rate": 16_000},
        {"encoding": "pcm16", "rate": 100},
        {"encoding": "pcm16", "channels": 0},
    ],
)
def test_impossible_formats_are_refused(fmt):
    with pytest.raises(InvalidParameter):
        PcmFormat(**fmt)


def test_seconds_counts_bytes_of_the_format():
    assert PcmFormat("pcm16", 24_000).seconds(48_000) == pytest.approx(1.0)
    assert PcmFormat("mulaw", 8_000).seconds(8_000) == pytest.approx(1.0)
