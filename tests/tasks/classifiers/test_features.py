"""Model inputs: Whisper-encoder embeddings on the audio present, and log-mel framing."""

from __future__ import annotations

import numpy as np
import pytest

from tympan.audio import Audio, decode_audio
from tympan.tasks.classifiers.features import (
    ENCODER_DIM,
    FeatureCache,
    WhisperEncoder,
    fit_frames,
    mel_frames,
)


@pytest.fixture(scope="module")
def encoder() -> WhisperEncoder:
    return WhisperEncoder(threads=1)


def test_batched_embeddings_equal_solo_ones(encoder, eval_dir) -> None:
    short = decode_audio(eval_dir / "fsdd" / "audio" / "1_theo_0.flac")
    long = decode_audio(eval_dir / "fsdd" / "audio" / "7_theo_0.flac")
    same_length = Audio.from_array(long.samples[: short.samples.size])
    batch = encoder.embed([short, long, same_length])
    assert batch.shape == (3, ENCODER_DIM) and np.isfinite(batch).all()
    np.testing.assert_allclose(batch[0], encoder.embed([short])[0], atol=1e-5)
    np.testing.assert_allclose(batch[1], encoder.embed([long])[0], atol=1e-5)


def test_embeddings_separate_digits(encoder, eval_dir) -> None:
    def clip(name: str) -> Audio:
        return decode_audio(eval_dir / "fsdd" / "audio" / name)

    one_a, one_b, six = encoder.embed(
        [clip("1_jackson_0.flac"), clip("1_george_0.flac"), clip("6_jackson_0.flac")]
    )

    def cosine(x: np.ndarray, y: np.ndarray) -> float:
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))

    centred = [v - (one_a + one_b + six) / 3 for v in (one_a, one_b, six)]
    assert cosine(centred[0], centred[1]) > cosine(centred[0], centred[2])


def test_tiny_and_long_clips(encoder) -> None:
    tiny = Audio.from_array(np.full(100, 0.01, np.float32))
    long = Audio.from_array(np.random.default_rng(0).normal(0, 0.1, 16000 * 40).astype(np.float32))
    values = encoder.embed([tiny, long])
    assert np.isfinite(values).all()


def test_mel_frames_are_normalised_and_fitted(eval_dir) -> None:
    audio = decode_audio(eval_dir / "fsdd" / "audio" / "3_lucas_0.flac")
    values = mel_frames(audio)
    assert values.shape[1] == 64 and abs(float(values.mean())) < 1e-3
    assert fit_frames(values, 10).shape == (10, 64)
    padded = fit_frames(values, values.shape[0] + 20)
    assert padded.shape[0] == values.shape[0] + 20 and not padded[:10].any()


def test_feature_cache_computes_once(tmp_path) -> None:
    cache = FeatureCache(tmp_path)
    calls = []

    def compute() -> list[np.ndarray]:
        calls.append(1)
        return [np.arange(3.0)]

    first = cache.get_or_compute("abc", "recipe", compute)
    second = cache.get_or_compute("abc", "recipe", compute)
    other = cache.get_or_compute("abc", "other", compute)
    assert len(calls) == 2 and np.array_equal(first[0], second[0]) and len(other) == 1
