"""Feature values agree with librosa on real audio; bad parameters are refused."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from tympan.audio import decode_audio
from tympan.audio.features import FeatureOptions, extract_features
from tympan.errors import InvalidParameter


@pytest.fixture(scope="module")
def speech(eval_dir):
    return decode_audio(eval_dir / "diarization" / "sample.wav").slice(6.0, 16.0)


def _librosa(kind: str, y: np.ndarray, o: FeatureOptions) -> np.ndarray:
    common = {"n_fft": o.n_fft, "hop_length": o.hop_length}
    if kind == "spectrogram":
        return np.abs(librosa.stft(y, **common)) ** o.power
    if kind == "log_mel":
        mel = librosa.feature.melspectrogram(y=y, sr=16_000, n_mels=o.n_mels, fmin=o.fmin, **common)
        return librosa.power_to_db(mel)
    if kind == "mfcc":
        return librosa.feature.mfcc(
            y=y, sr=16_000, n_mfcc=o.n_mfcc, n_mels=o.n_mels, fmin=o.fmin, **common
        )
    if kind == "zcr":
        return librosa.feature.zero_crossing_rate(y, frame_length=o.n_fft, hop_length=o.hop_length)
    return librosa.feature.rms(y=y, frame_length=o.n_fft, hop_length=o.hop_length)


@pytest.mark.parametrize("kind", ["spectrogram", "log_mel", "mfcc", "zcr", "rms"])
@pytest.mark.parametrize("deltas", [0, 2])
def test_agrees_with_librosa(speech, kind: str, deltas: int) -> None:
    options = FeatureOptions(n_fft=512, hop_length=128, n_mels=40, n_mfcc=20, deltas=deltas)
    ours = extract_features(speech, kind, options)  # type: ignore[arg-type]
    reference = _librosa(kind, speech.samples, options)
    blocks = [reference] + [librosa.feature.delta(reference, order=k) for k in range(1, deltas + 1)]
    expected = np.concatenate(blocks, axis=0).T
    assert ours.values.shape == expected.shape
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(ours.values, expected, atol=1e-4 * scale, rtol=1e-3)
    assert ours.frame_rate == pytest.approx(16_000 / 128)


def test_fmin_and_fmax_shape_the_mel_bank(speech) -> None:
    options = FeatureOptions(n_mels=32, fmin=300.0, fmax=4000.0)
    ours = extract_features(speech, "log_mel", options).values.T
    mel = librosa.feature.melspectrogram(
        y=speech.samples, sr=16_000, n_fft=400, hop_length=160, n_mels=32, fmin=300, fmax=4000
    )
    np.testing.assert_allclose(ours, librosa.power_to_db(mel), atol=1e-3)


@pytest.mark.parametrize(
    ("options", "param"),
    [
        (FeatureOptions(n_fft=8), "n_fft"),
        (FeatureOptions(hop_length=1000, n_fft=512), "hop_length"),
        (FeatureOptions(n_mfcc=80, n_mels=40), "n_mfcc"),
        (FeatureOptions(deltas=3), "deltas"),
        (FeatureOptions(power=3.0), "power"),
        (FeatureOptions(fmin=100.0, fmax=50.0), "fmax"),
    ],
)
def test_bad_parameters(speech, options: FeatureOptions, param: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        extract_features(speech, "mfcc", options)
    assert info.value.param == param


def test_deltas_need_enough_frames(speech) -> None:
    with pytest.raises(InvalidParameter):
        extract_features(speech.slice(0, 0.02), "mfcc", FeatureOptions(deltas=1))


@pytest.mark.parametrize("kind", ["spectrogram", "log_mel", "mfcc", "zcr", "rms"])
def test_blocks_give_the_same_values_as_one_pass(speech, kind, monkeypatch) -> None:
    """Long audio is framed a block at a time; the values do not depend on the block size."""
    import tympan.audio.features as features

    options = FeatureOptions(n_fft=512, hop_length=100, n_mels=40, n_mfcc=20, deltas=1)
    monkeypatch.setattr(features, "_BLOCK_SAMPLES", 512 * 7)  # 7 frames a block
    blocked = extract_features(speech, kind, options).values  # type: ignore[arg-type]
    monkeypatch.setattr(features, "_BLOCK_SAMPLES", 1 << 30)
    whole = extract_features(speech, kind, options).values  # type: ignore[arg-type]
    assert blocked.shape == whole.shape == (1 + speech.samples.size // 100, 2 * options.dims(kind))
    np.testing.assert_allclose(blocked, whole, rtol=1e-5, atol=1e-4)  # float32 DCT batches


@pytest.mark.parametrize(("n_fft", "kind"), [(400, "log_mel"), (401, "spectrogram"), (16, "zcr")])
def test_values_held_counts_what_is_computed(speech, n_fft, kind) -> None:
    options = FeatureOptions(n_fft=n_fft, hop_length=7, n_mels=32, deltas=2)
    values = extract_features(speech.slice(0, 0.5), kind, options).values  # type: ignore[arg-type]
    assert options.values_held(speech.slice(0, 0.5).samples.size, kind) == values.size
