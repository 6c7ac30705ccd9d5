"""How musical a continuation is: pitch-class distance, notes in key, bars that add up.

Used by the benchmark (model beside baseline on held-out openings) and by the tests.
"""

from __future__ import annotations

import numpy as np

from tympan.tasks.music.melody import GRID, Melody, Meter, in_key_fraction, pitch_class_histogram
from tympan.tasks.music.tokens import BAR, EOS, VOCAB

__all__ = ["histogram_distance", "in_key_fraction", "rhythm_validity"]


def histogram_distance(generated: list[Melody], reference: list[Melody]) -> float:
    """Total-variation distance (0 = same, 1 = disjoint) between two pitch-class histograms."""
    difference = pitch_class_histogram(generated) - pitch_class_histogram(reference)
    return float(0.5 * np.abs(difference).sum())


def rhythm_validity(ids: list[int], meter: Meter, start: int = 0) -> float:
    """Share of the complete bars after token ``start`` whose durations fill exactly one bar.

    A bar is the span between two ``BAR`` tokens; the span before the first (a pickup or the
    prompt's unfinished bar) is not judged. 1.0 when there is no complete bar to judge.
    """
    bar = int(meter.bar_beats * GRID)
    filled, complete, valid, started = 0, 0, 0, False
    for token_id in ids[start:]:
        if token_id == BAR:
            if started:
                complete += 1
                valid += filled == bar
            started, filled = True, 0
        elif token_id == EOS:
            break
        elif VOCAB.tokens[token_id].startswith("DUR_"):
            filled += int(VOCAB.tokens[token_id][4:])
    return valid / complete if complete else 1.0
