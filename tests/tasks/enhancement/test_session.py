"""``FrameSession``: frame models (RNNoise, DeepFilterNet) keep every sample in place."""

from __future__ import annotations

import numpy as np
import pytest

from tympan.audio import Audio
from tympan.tasks.enhancement import Enhancer, enhance_audio


@pytest.mark.parametrize("model", ["rnnoise", "deepfilternet"])
def test_output_lines_up_with_input(
    model: str, clean_speech: Audio, request: pytest.FixtureRequest
) -> None:
    enhancer: Enhancer = request.getfixturevalue(model)
    enhanced = enhance_audio(enhancer, clean_speech).samples
    reference = clean_speech.samples
    lags = range(-80, 81)
    scores = [np.dot(np.roll(enhanced, -lag), reference) for lag in lags]
    assert abs(list(lags)[int(np.argmax(scores))]) <= 2  # within 0.125 ms at 16 kHz


def test_session_returns_exactly_what_it_was_given(rnnoise: Enhancer) -> None:
    session = rnnoise.session()
    given = [np.full(n, 0.01, np.float32) for n in (1, 159, 1600, 7)]
    out = [session.process(block) for block in given]
    out.append(session.finish())
    session.close()
    assert sum(part.shape[0] for part in out) == sum(part.shape[0] for part in given)


def test_sessions_are_independent(rnnoise: Enhancer, noisy_speech: Audio) -> None:
    first = enhance_audio(rnnoise, noisy_speech).samples
    second = enhance_audio(rnnoise, noisy_speech).samples
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert first.shape == noisy_speech.samples.shape
