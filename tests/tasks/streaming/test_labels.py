"""Live speaker labels: enrolled names first, else stable SPEAKER_n for the session."""

from __future__ import annotations

import numpy as np

from tympan.tasks.speakers import VoiceprintIndex, l2_normalise
from tympan.tasks.streaming import SpeakerLabeller


def _unit(*values: float) -> np.ndarray:
    return l2_normalise(np.array(values, np.float32))


def test_anonymous_speakers_keep_their_label_and_new_voices_get_new_ones():
    labeller = SpeakerLabeller("m", threshold=0.7)
    assert labeller.label(_unit(1, 0, 0), 2.0, None) == "SPEAKER_0"
    assert labeller.label(_unit(0, 1, 0), 2.0, None) == "SPEAKER_1"
    assert labeller.label(_unit(0.95, 0.1, 0), 2.0, None) == "SPEAKER_0"
    assert labeller.label(_unit(0.1, 0.9, 0.1), 2.0, None) == "SPEAKER_1"


def test_a_short_turn_joins_the_nearest_speaker_instead_of_inventing_one():
    labeller = SpeakerLabeller("m", threshold=0.7)
    labeller.label(_unit(1, 0, 0), 2.0, None)
    assert labeller.label(_unit(0, 0, 1), 0.4, None) == "SPEAKER_0"
    assert labeller.label(_unit(0, 0, 1), 2.0, None) == "SPEAKER_1"


def test_an_enrolled_voice_is_named():
    index = VoiceprintIndex(["spk_1"], ["Diane"], np.stack([_unit(0, 1, 0)]))
    labeller = SpeakerLabeller("m", threshold=0.7)
    assert labeller.label(_unit(0.1, 1, 0), 2.0, index) == "Diane"
    assert labeller.label(_unit(1, 0, 0), 2.0, index) == "SPEAKER_0"
