"""The shared preview rate: slower as sessions and preview times grow, never faster than set."""

from __future__ import annotations

import pytest

from tympan.tasks.streaming.budget import PreviewBudget


def test_the_interval_is_the_configured_one_until_previews_would_pass_their_share():
    budget = PreviewBudget(share=0.5)
    assert budget.interval(1.0, sessions=6) == 1.0  # nothing measured yet
    budget.record(0.2)
    assert budget.interval(1.0, sessions=2) == 1.0  # 2 x 0.2 s a second: 40 % of the model
    assert budget.interval(1.0, sessions=6) == pytest.approx(2.4)  # 6 x 0.2 s / 0.5


def test_slower_previews_under_load_stretch_the_interval_and_faster_ones_shrink_it_back():
    budget = PreviewBudget(share=0.5)
    budget.record(0.2)
    before = budget.interval(1.0, sessions=4)
    budget.record(1.0)
    loaded = budget.interval(1.0, sessions=4)
    assert loaded > before
    for _ in range(20):
        budget.record(0.2)
    assert budget.interval(1.0, sessions=4) == pytest.approx(before, rel=0.01)


def test_a_share_outside_0_1_is_refused():
    with pytest.raises(ValueError):
        PreviewBudget(share=0.0)
