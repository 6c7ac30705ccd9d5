"""Training: every architecture learns something, reports held-out scores, loads back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.tasks.music.conftest import TRAINED
from tympan.client import Client
from tympan.config import Settings
from tympan.errors import Conflict
from tympan.tasks.music import load_music_model
from tympan.tasks.music.corpus import Piece
from tympan.tasks.music.tokens import VOCAB
from tympan.tasks.music.training import split_sequences


@pytest.mark.parametrize("model_id", TRAINED)
def test_trained_models_beat_chance(
    music_settings: Settings, music_api: Client, model_id: str
) -> None:
    loaded = load_music_model(music_settings.models_dir, model_id)
    report = loaded.report
    assert report.pieces["train"] > 15 and report.pieces["test"] > 0
    assert report.test_perplexity < len(VOCAB) / 2  # uniform guessing scores len(VOCAB)
    assert report.train_seconds > 0
    probabilities = np.exp(loaded.model.next_log_probs([1]))
    assert math.isclose(probabilities.sum(), 1.0, rel_tol=1e-4)


def test_scores_are_reproducible(music_settings: Settings, folk_pieces: list[Piece]) -> None:
    loaded = load_music_model(music_settings.models_dir, "folk-transformer")
    test = split_sequences(folk_pieces)["test"]
    total, count = loaded.model.sequence_nll(test)
    assert math.isclose(total / count, loaded.report.test_nll, abs_tol=1e-3)


def test_untrained_model_says_how_to_train(music_settings: Settings) -> None:
    with pytest.raises(Conflict) as error:
        load_music_model(music_settings.models_dir, "bach-transformer")
    assert "tympan music train" in error.value.message
