"""The stored thresholds are the EER points of the eval trials, recomputed from real speech."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speaker_data import trials, utterances
from tympan.audio import decode_audio
from tympan.tasks.speakers import DEFAULT_THRESHOLDS, default_threshold, error_rates
from tympan.tasks.speakers.calibration import UNCALIBRATED_THRESHOLD


def test_error_rates_on_separable_and_overlapping_scores() -> None:
    separable = error_rates(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]))
    assert separable.eer == 0.0 and separable.min_dcf == 0.0
    assert 0.2 < separable.eer_threshold <= 0.8
    reversed_ = error_rates(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0]))
    assert reversed_.eer == 1.0


def test_default_threshold_is_the_eer_point(ge2e) -> None:
    """For the default model; benchmarks/bench_speakers.py checks every bundled model."""
    encoder, model_id, max_eer = ge2e, "resemblyzer-ge2e", 0.02
    paths = [path for paths in utterances().values() for path in paths]
    embedding = {path: encoder.embed(decode_audio(path)) for path in paths}
    rows = trials()
    scores = np.array([embedding[a] @ embedding[b] for a, b, _ in rows])
    targets = np.array([same for _, _, same in rows])
    rates = error_rates(scores, targets)
    assert rates.eer <= max_eer
    assert rates.eer_threshold == pytest.approx(DEFAULT_THRESHOLDS[model_id], abs=0.01)
    decided = scores >= default_threshold(model_id)
    assert (decided == targets).mean() >= 1 - 2 * max_eer


def test_unknown_models_get_the_uncalibrated_threshold() -> None:
    assert default_threshold("onnx-somebody-elses") == UNCALIBRATED_THRESHOLD
