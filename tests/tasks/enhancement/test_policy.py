"""``noise_reduction`` values to enhancers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.noisy_audio import noisy_speech
from tympan.audio import Audio
from tympan.config import Settings
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement import noise_reduction_policy

ENHANCERS = ["deepfilternet3", "rnnoise", "noisereduce"]


def test_named_choices_and_model_ids() -> None:
    policy = noise_reduction_policy(Settings())
    audio = Audio.from_array(np.zeros(16_000, np.float32))
    assert policy.model_for("none", audio, ENHANCERS) is None
    assert policy.model_for("near_field", audio, ENHANCERS) == "rnnoise"
    assert policy.model_for("far_field", audio, ENHANCERS) == "deepfilternet3"
    assert policy.model_for("noisereduce", audio, ENHANCERS) == "noisereduce"
    with pytest.raises(InvalidParameter) as error:
        policy.model_for("loud", audio, ENHANCERS)
    assert error.value.param == "noise_reduction" and "near_field" in error.value.message


def test_auto_enhances_only_below_its_snr_threshold() -> None:
    policy = noise_reduction_policy(Settings(noise_reduction_auto_snr_db=5.0))
    quiet = Audio.from_array(noisy_speech(30.0)[0])
    loud = Audio.from_array(noisy_speech(-5.0)[0])
    assert policy.model_for("auto", quiet, ENHANCERS) is None
    assert policy.model_for("auto", loud, ENHANCERS) == policy.auto_model
