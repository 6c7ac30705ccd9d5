"""WER as the evaluation sets are scored."""

from __future__ import annotations

import pytest

from tympan.tasks.adaptation.scoring import word_error_rate


def test_normalised_wer() -> None:
    assert word_error_rate(["IT WAS GOOD FOR ME"], ["It was good for me."]) == 0.0
    assert word_error_rate(["it was good for me"], ["it was bad for me"]) == pytest.approx(0.2)


def test_an_empty_hypothesis_deletes_every_word() -> None:
    assert word_error_rate(["two words"], [""]) == pytest.approx(1.0)
