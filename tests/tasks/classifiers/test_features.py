"""Model inputs: Whisper-encoder embeddings (silence-padded window), and log-mel framing."""

from __future__ import annotations

import numpy as np
import pytest

from tympan.audio import Audio, decode_audio
from tympan.errors import InvalidParameter
from tympan.tasks.classifiers.export import ModelMeta
from tympan.tasks.classifiers.features import (
    ENCODER_DIM,
    LAST_LAYER,
    FeatureCache,
    WhisperEncoder,
    encoder_layer_numbers,
    encoder_layers_spec,
    fit_frames,
    mel_frames,
)
from tympan.tasks.classifiers.inputs import input_shape, meta_shape


@pytest.fixture(scope="module")
def encoder() -> WhisperEncoder:
    return WhisperEncoder(threads=1)


@pytest.mark.parametrize("window", [0.0, 3.0])
def test_batched_embeddings_equal_solo_ones(encoder, eval_dir, window) -> None:
    short = decode_audio(eval_dir / "fsdd" / "audio" / "1_theo_0.flac")
    long = decode_audio(eval_dir / "fsdd" / "audio" / "7_theo_0.flac")
    same_length = Audio.from_array(long.samples[: short.samples.size])
    batch = encoder.embed([short, long, same_length], window)
    assert batch.shape == (3, ENCODER_DIM) and np.isfinite(batch).all()
    np.testing.assert_allclose(batch[0], encoder.embed([short], window)[0], atol=1e-5)
    np.testing.assert_allclose(batch[1], encoder.embed([long], window)[0], atol=1e-5)


def test_window_pads_short_clips_only(encoder, eval_dir) -> None:
    clip = decode_audio(eval_dir / "fsdd" / "audio" / "3_lucas_0.flac")
    alone, padded = encoder.embed([clip, clip], 0.0)[0], encoder.embed([clip], 3.0)[0]
    assert not np.allclose(alone, padded, atol=1e-3)  # the trailing silence changes the frames
    long = Audio.from_array(np.tile(clip.samples, int(4 * 16000 / clip.samples.size) + 1))
    np.testing.assert_allclose(
        encoder.embed([long], 0.0)[0], encoder.embed([long], 3.0)[0], atol=1e-5
    )


def test_encoder_window_follows_clip_length() -> None:
    assert input_shape("transfer", np.full(10, 0.5)).encoder_seconds == 3.0
    assert input_shape("transfer", np.full(10, 4.2)).encoder_seconds == 9.0
    assert input_shape("transfer", np.full(10, 25.0)).encoder_seconds == 12.0  # typical <= 6 s
    assert input_shape("cnn", np.full(10, 0.5)).encoder_seconds == 0.0


def test_versions_saved_before_the_window_still_load() -> None:
    older = '{"arch": "transfer", "labels": ["a", "b"], "input_dim": 768, "frames": null, '
    meta = ModelMeta.from_json(older + '"window_seconds": 0.5}')
    assert meta_shape(meta).encoder_seconds == 0.0
    assert meta_shape(meta).encoder_layers == LAST_LAYER  # nor the layers: the last one
    assert meta_shape(input_shape("transfer", np.full(4, 0.5)).meta("transfer", ["a"])) == (
        input_shape("transfer", np.full(4, 0.5))
    )


def test_embeddings_separate_digits(encoder, eval_dir) -> None:
    def clip(name: str) -> Audio:
        return decode_audio(eval_dir / "fsdd" / "audio" / name)

    one_a, one_b, six = encoder.embed(
        [clip("1_jackson_0.flac"), clip("1_george_0.flac"), clip("6_jackson_0.flac")], 3.0
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


def test_middle_layers_in_pytorch_agree_with_the_last_in_ctranslate2(encoder, eval_dir) -> None:
    """Layers 1-4 pooled side by side; the PyTorch float32 copy's last layer matches the
    CTranslate2 int8 encoder's output, and a clip batched equals the clip alone."""
    clips = [decode_audio(eval_dir / "fsdd" / "audio" / f"{d}_theo_0.flac") for d in (1, 7)]
    every = encoder.embed(clips, 3.0, layers=((1,), (2,), (3,), (4,)))
    assert every.shape == (2, 4 * ENCODER_DIM) and np.isfinite(every).all()
    last = encoder.embed(clips, 3.0)

    def last_of(pooled: np.ndarray) -> np.ndarray:
        return pooled[:, -ENCODER_DIM:]

    cosine = (last_of(every) * last).sum(1) / (
        np.linalg.norm(last_of(every), axis=1) * np.linalg.norm(last, axis=1)
    )
    assert (cosine > 0.995).all(), cosine
    layers = encoder.embed(clips[:1], 3.0, layers=((2,), (4,)))
    second_and_last = np.concatenate([every[0, ENCODER_DIM : 2 * ENCODER_DIM], last_of(every)[0]])
    np.testing.assert_allclose(layers[0], second_and_last, atol=1e-4)
    assert not np.allclose(every[0, :ENCODER_DIM], last_of(every)[0], atol=0.1)


def test_averaged_layers_are_the_mean_of_their_normed_pools(encoder, eval_dir) -> None:
    """``2+3+last`` is one layer wide: the average of layers 2 and 3 (each through the final
    layer norm, as the last is) and the last, so it follows from ``2+3`` and ``last``; the
    norm makes it differ from averaging the lone layers' residual streams."""
    clips = [decode_audio(eval_dir / "fsdd" / "audio" / f"{d}_george_1.flac") for d in (4, 9)]
    three = encoder.embed(clips, 3.0, layers=((2, 3, 4),))
    assert three.shape == (2, ENCODER_DIM) and np.isfinite(three).all()
    pair = encoder.embed(clips, 3.0, layers=((2, 3),))
    lone = encoder.embed(clips, 3.0, layers=((2,), (3,), (4,)))
    last = lone[:, 2 * ENCODER_DIM :]
    np.testing.assert_allclose(three, (2 * pair + last) / 3, atol=1e-4)
    residual_mean = (lone[:, :ENCODER_DIM] + lone[:, ENCODER_DIM : 2 * ENCODER_DIM]) / 2
    assert not np.allclose(pair, residual_mean, atol=0.1)


@pytest.mark.parametrize(
    ("spec", "layers"),
    [
        ("last", ((4,),)),
        ("all", ((1,), (2,), (3,), (4,))),
        ("3", ((3,),)),
        (" 3, 1,last ", ((1,), (3,), (4,))),
        ("2,2", ((2,),)),
        ("2+3+last", ((2, 3, 4),)),
        ("last + 3, 1", ((1,), (3, 4))),
        ("3+3", ((3,),)),
    ],
)
def test_encoder_layers_spelling(spec, layers) -> None:
    assert encoder_layer_numbers(spec) == layers
    assert encoder_layer_numbers(encoder_layers_spec(layers)) == layers
    shape = input_shape("transfer", np.full(4, 0.5), layers)
    assert shape.input_dim == ENCODER_DIM * len(layers)
    saved = ModelMeta.from_json(shape.meta("transfer", ["a"]).to_json())
    assert meta_shape(saved) == shape


@pytest.mark.parametrize("spec", ["", "0", "5", "first", "1;2", "-1", "1,,2", "2+", "+3", "2+5"])
def test_encoder_layers_refused(spec) -> None:
    with pytest.raises(InvalidParameter, match="encoder_layers") as refused:
        encoder_layer_numbers(spec)
    assert refused.value.param == "encoder_layers"
