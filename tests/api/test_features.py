"""``POST /v1/audio/features``: JSON and .npy agree with the task; every hostile file."""

from __future__ import annotations

import numpy as np
import pytest

from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tympan.audio import decode_audio
from tympan.audio.features import FeatureOptions, extract_features
from tympan.errors import InvalidParameter


def test_json_and_npy_carry_the_same_frames(api, eval_dir) -> None:
    path = eval_dir / "asr_small" / "cmu_arctic_aew_arctic_a0001.flac"
    fields = {"kind": "mfcc", "n_mfcc": 20, "n_mels": 40, "deltas": 1}
    body = api.post_audio("/v1/audio/features", path, fields).json()
    array = api.features(path, "mfcc", n_mfcc=20, n_mels=40, deltas=1).values
    assert body["shape"] == list(array.shape) and body["shape"][1] == 40
    np.testing.assert_allclose(np.array(body["frames"], np.float32), array, rtol=1e-6)
    expected = extract_features(
        decode_audio(path), "mfcc", FeatureOptions(n_mfcc=20, n_mels=40, deltas=1)
    )
    np.testing.assert_allclose(array, expected.values, rtol=1e-5, atol=1e-5)
    assert body["frame_rate"] == pytest.approx(100.0)
    assert body["duration"] == pytest.approx(decode_audio(path).duration, abs=1e-3)


@pytest.mark.parametrize("kind", ["spectrogram", "log_mel", "zcr", "rms"])
def test_every_kind(api, eval_dir, kind) -> None:
    path = eval_dir / "bad_inputs" / "speech.ogg"
    values = api.features(path, kind).values
    frames = decode_audio(path).samples.size // 160 + 1  # centred frames, hop 160
    expected_dims = {"spectrogram": 201, "log_mel": 64, "zcr": 1, "rms": 1}[kind]
    assert values.shape == (frames, expected_dims) and np.isfinite(values).all()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"kind": "chroma"}, "kind"),
        ({"n_fft": 4}, "n_fft"),
        ({"deltas": 3}, "deltas"),
        ({"n_mfcc": 80, "n_mels": 40, "kind": "mfcc"}, "n_mfcc"),
        ({"format": "xml"}, "format"),
        ({"power": 3}, "power"),
    ],
)
def test_bad_parameters_get_400(api, eval_dir, fields, param) -> None:
    with pytest.raises(InvalidParameter) as info:
        api.post_audio("/v1/audio/features", eval_dir / "bad_inputs" / "speech.ogg", fields)
    assert info.value.status == 400 and param in (info.value.param or "")


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs(api, case) -> None:
    check_bad_audio(api, "/v1/audio/features", case, {"kind": "rms"})
