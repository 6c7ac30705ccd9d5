"""The drift measures: Kolmogorov-Smirnov and total variation, with their p-values, and the
bounded windows of recent observations."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tympan.drift import Windows, categorical_shift, numeric_shift

RNG = np.random.default_rng(7)


def test_the_same_population_does_not_drift() -> None:
    reference, recent = RNG.normal(0, 1, 40), RNG.normal(0, 1, 200)
    shift = numeric_shift("x", reference, recent, threshold=0.3)
    assert not shift.drifting and shift.distance < 0.3 and shift.method == "ks"


def test_a_moved_population_drifts_and_reports_both_medians() -> None:
    reference, recent = RNG.normal(0, 1, 40), RNG.normal(2, 1, 200)
    shift = numeric_shift("x", reference, recent, threshold=0.3)
    assert shift.drifting and shift.distance > 0.6 and shift.p_value < 0.01
    assert shift.reference_median == pytest.approx(0, abs=0.6)
    assert shift.recent_median == pytest.approx(2, abs=0.3)


def test_a_large_distance_on_a_handful_of_values_is_chance() -> None:
    shift = numeric_shift("x", np.array([0.0, 1.0, 2.0]), np.array([1.5, 2.5]), threshold=0.3)
    assert shift.distance >= 0.3 and shift.p_value >= 0.01 and not shift.drifting


@pytest.mark.parametrize(("direction", "drifts"), [("up", True), ("down", False), ("both", True)])
def test_one_sided_shifts_count_only_their_direction(direction: str, drifts: bool) -> None:
    reference, recent = RNG.normal(0, 1, 60), RNG.normal(2, 1, 200)
    shift = numeric_shift("x", reference, recent, threshold=0.3, direction=direction)  # type: ignore[arg-type]
    assert shift.drifting is drifts


@pytest.mark.parametrize(("least_change", "drifts"), [(0.0, True), (0.02, False), (0.004, True)])
def test_a_shift_drifts_only_when_its_mean_moves_by_the_least_change(
    least_change: float, drifts: bool
) -> None:
    """Crowded confidences: every recent value under every reference one (distance 1), the
    mean 0.005 lower."""
    reference, recent = 0.99 + RNG.uniform(0, 0.004, 40), 0.985 + RNG.uniform(0, 0.004, 40)
    shift = numeric_shift("x", reference, recent, 0.3, "down", least_change)
    assert shift.distance == 1 and shift.p_value < 0.01 and shift.drifting is drifts


def test_class_mix_drifts_by_total_variation() -> None:
    balanced = np.repeat([0, 1, 2], 20)
    same = categorical_shift("label", balanced, np.repeat([0, 1, 2], 50), 3, threshold=0.3)
    assert same.distance == 0 and not same.drifting
    one_class = categorical_shift("label", balanced, np.repeat([0, 0, 1], 50), 3, threshold=0.3)
    assert one_class.distance == pytest.approx(1 / 3, abs=1e-3) and one_class.drifting
    assert one_class.method == "tvd"


def test_one_category_on_both_sides_is_no_drift() -> None:
    shift = categorical_shift("label", np.zeros(10, int), np.zeros(30, int), 4, threshold=0.3)
    assert shift.distance == 0 and shift.p_value == 1 and not shift.drifting


def test_windows_keep_the_most_recent_per_key_from_many_threads() -> None:
    windows = Windows(size=50)

    def add(key: str) -> None:
        for index in range(200):
            windows.add(key, {"index": index})

    threads = [threading.Thread(target=add, args=(key,)) for key in ("a", "b", "a")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(windows.watched()) == ["a", "b"]
    assert [item["index"] for item in windows.recent("b")] == list(range(150, 200))
    assert len(windows.recent("a")) == 50 and windows.recent("missing") == []
