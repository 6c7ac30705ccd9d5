"""``NoiseReductionPolicy``: which enhancer each ``noise_reduction`` value runs."""

from __future__ import annotations

import pytest

from tympan.audio import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement import NoiseReductionPolicy

POLICY = NoiseReductionPolicy(
    auto_model="deepfilternet3",
    near_field_model="rnnoise",
    far_field_model="deepfilternet3",
    auto_snr_db=10.0,
)
ENHANCERS = ["deepfilternet3", "rnnoise", "noisereduce"]


def test_named_choices(noisy_speech: Audio) -> None:
    assert POLICY.model_for("none", noisy_speech, ENHANCERS) is None
    assert POLICY.model_for("near_field", noisy_speech, ENHANCERS) == "rnnoise"
    assert POLICY.model_for("far_field", noisy_speech, ENHANCERS) == "deepfilternet3"
    assert POLICY.model_for("noisereduce", noisy_speech, ENHANCERS) == "noisereduce"


def test_auto_enhances_noisy_speech_only(noisy_speech: Audio, clean_speech: Audio) -> None:
    assert POLICY.model_for("auto", noisy_speech, ENHANCERS) == "deepfilternet3"
    assert POLICY.model_for("auto", clean_speech, ENHANCERS) is None


def test_unknown_value_is_refused_listing_the_choices(noisy_speech: Audio) -> None:
    with pytest.raises(InvalidParameter, match="near_field, far_field, deepfilternet3") as err:
        POLICY.model_for("loud", noisy_speech, ENHANCERS)
    assert err.value.param == "noise_reduction"
