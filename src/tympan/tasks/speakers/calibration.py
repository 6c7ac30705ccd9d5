"""Verification error rates and the decision thresholds calibrated from them.

``DEFAULT_THRESHOLDS`` holds, per bundled model, the cosine score at the equal error rate on
``../shared/eval/speakers/trials.csv`` (450 target + 450 impostor LibriSpeech test-other
pairs, whole utterances). ``benchmarks/bench_speakers.py`` recomputes them with
``eer_threshold`` on every run and prints them beside these constants, so a drift shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve

__all__ = [
    "DEFAULT_THRESHOLDS",
    "P_TARGET",
    "UNCALIBRATED_THRESHOLD",
    "ErrorRates",
    "default_threshold",
    "error_rates",
]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "resemblyzer-ge2e": 0.759,  # EER 0.56 % on the trials (2026-11-21)
    "voicefilter-dvector": 0.650,  # EER 2.00 %
}
"""Cosine threshold at the EER point on the speakers eval set, per bundled model id."""

UNCALIBRATED_THRESHOLD = 0.5
"""Threshold for a configured ONNX model nobody has calibrated: pass ``threshold`` instead."""

P_TARGET = 0.01
"""Prior of a target trial in the detection cost (NIST SRE 2010+ style; C_miss = C_fa = 1)."""


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """Equal error rate, its threshold, and the normalised minimum detection cost."""

    eer: float
    eer_threshold: float
    min_dcf: float


def error_rates(scores: np.ndarray, targets: np.ndarray, p_target: float = P_TARGET) -> ErrorRates:
    """EER (where miss and false-alarm rates cross) and minDCF of scored trials."""
    false_alarm, hit, thresholds = roc_curve(targets.astype(int), scores)
    miss = 1.0 - hit
    index = int(np.nanargmin(np.abs(miss - false_alarm)))
    eer = float((miss[index] + false_alarm[index]) / 2)
    cost = p_target * miss + (1 - p_target) * false_alarm
    min_dcf = float(cost.min() / min(p_target, 1 - p_target))
    threshold = float(thresholds[index]) if np.isfinite(thresholds[index]) else 1.0
    return ErrorRates(eer, threshold, min_dcf)


def default_threshold(model: str) -> float:
    """The calibrated threshold of ``model``, or ``UNCALIBRATED_THRESHOLD`` for other models."""
    return DEFAULT_THRESHOLDS.get(model, UNCALIBRATED_THRESHOLD)
