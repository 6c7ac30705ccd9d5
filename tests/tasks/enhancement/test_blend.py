"""Dry/wet blending: streamed block by block, it is the enhanced output plus the noisy input."""

from __future__ import annotations

import numpy as np
import pytest

from tests.noisy_audio import noisy_speech
from tympan.audio import Audio
from tympan.tasks.enhancement import RNNoise, enhance_audio
from tympan.tasks.enhancement.blend import BlendedEnhancer, blend
from tympan.tasks.enhancement.snr import si_sdr


def test_blend_is_the_enhanced_output_with_the_noisy_input_mixed_back() -> None:
    noisy, clean = noisy_speech(5.0)
    rnnoise = RNNoise()
    enhanced = enhance_audio(rnnoise, Audio.from_array(noisy)).samples
    blended = enhance_audio(BlendedEnhancer(rnnoise, 0.4), Audio.from_array(noisy)).samples
    assert blended.shape == noisy.shape and blended.dtype == np.float32
    # The session lines its input up with the enhancer's delayed output, sample for sample.
    np.testing.assert_allclose(blended, blend(enhanced, noisy, 0.4), atol=1e-6)
    # Between the two: less noise than the input, fewer artifacts than the enhancer alone.
    assert si_sdr(clean, noisy) < si_sdr(clean, blended)
    assert np.mean((blended - noisy) ** 2) < np.mean((enhanced - noisy) ** 2)


@pytest.mark.parametrize("dry", [-0.1, 1.0, 2.0])
def test_a_dry_share_outside_0_to_1_is_refused(dry: float) -> None:
    with pytest.raises(ValueError, match="dry share"):
        BlendedEnhancer(RNNoise(), dry)
