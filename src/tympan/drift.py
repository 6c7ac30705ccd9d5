"""Drift: whether what a model serves now still looks like what it was checked on.

Serving keeps a bounded window of per-input statistics for the most recent inputs of each
model (``Windows``); a model version keeps a reference sample of the same statistics (a
classifier's come from its validation set). Each statistic is compared by a two-sample
measure that holds up on a small reference, both in [0, 1]:

- numbers (confidence, duration, loudness, ...): the Kolmogorov-Smirnov statistic D, the
  largest gap between the two empirical distribution functions, with its p-value (SciPy's
  ``ks_2samp``), one-sided where only one direction is bad (confidence falling);
- categories (the predicted class): the total variation distance, half the L1 distance of the
  two frequency tables, with the p-value of a chi-square test of homogeneity.

A statistic drifts when its distance reaches the threshold and its p-value is under 0.01 (a
large distance on a handful of inputs is chance; a tiny one on thousands is not worth a flag).
Population stability index is the other common choice; it needs ten-odd bins per statistic,
which a validation set of twenty clips cannot fill.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = ["SIGNIFICANCE", "Shift", "Windows", "categorical_shift", "numeric_shift"]

SIGNIFICANCE = 0.01
"""Largest p-value at which a distance over the threshold counts as drift."""


@dataclass(frozen=True, slots=True)
class Shift:
    """How far one statistic of the recent inputs moved from the reference."""

    statistic: str
    method: str
    distance: float
    p_value: float
    reference_median: float | None
    recent_median: float | None
    drifting: bool


def _rounded(value: float) -> float:
    return round(float(value), 4)


_ALTERNATIVES = {"both": "two-sided", "up": "greater", "down": "less"}


def numeric_shift(
    statistic: str,
    reference: np.ndarray,
    recent: np.ndarray,
    threshold: float,
    direction: Literal["both", "up", "down"] = "both",
    least_change: float = 0.0,
) -> Shift:
    """The Kolmogorov-Smirnov distance between ``reference`` and ``recent`` values; with
    ``direction`` ``up`` (or ``down``) only recent values larger (or smaller) count. With
    ``least_change``, the mean must also have moved that far that way for the values to
    drift: a rank test notices shifts too small to act on where values crowd together."""
    test = stats.ks_2samp(reference, recent, alternative=_ALTERNATIVES[direction])
    distance, p_value = float(test.statistic), float(test.pvalue)
    change = float(np.mean(recent) - np.mean(reference))
    moved = {"both": abs(change), "up": change, "down": -change}[direction] >= least_change
    return Shift(
        statistic,
        "ks",
        _rounded(distance),
        _rounded(p_value),
        _rounded(np.median(reference)),
        _rounded(np.median(recent)),
        distance >= threshold and p_value < SIGNIFICANCE and moved,
    )


def categorical_shift(
    statistic: str, reference: np.ndarray, recent: np.ndarray, categories: int, threshold: float
) -> Shift:
    """The total variation distance between the category frequencies of two samples."""
    counts = np.stack(
        [np.bincount(reference, minlength=categories), np.bincount(recent, minlength=categories)]
    ).astype(np.float64)
    distance = 0.5 * float(np.abs(counts[0] / counts[0].sum() - counts[1] / counts[1].sum()).sum())
    seen = counts[:, counts.sum(axis=0) > 0]
    p_value = 1.0 if seen.shape[1] < 2 else float(stats.chi2_contingency(seen).pvalue)
    return Shift(
        statistic,
        "tvd",
        _rounded(distance),
        _rounded(p_value),
        None,
        None,
        distance >= threshold and p_value < SIGNIFICANCE,
    )


class Windows:
    """The most recent ``size`` observations of each key (a model, a model and language, ...),
    kept in memory by the process that served them; safe to add to from any thread."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._windows: dict[Hashable, deque[dict[str, Any]]] = {}

    def add(self, key: Hashable, observation: dict[str, Any]) -> None:
        """Record one observation of ``key``, forgetting its oldest past ``size``."""
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque(maxlen=self.size)
            window.append(observation)

    def recent(self, key: Hashable) -> list[dict[str, Any]]:
        """The observations of ``key``, oldest first (a copy)."""
        with self._lock:
            return list(self._windows.get(key, ()))

    def watched(self) -> list[Hashable]:
        """Every key with observations."""
        with self._lock:
            return list(self._windows)
