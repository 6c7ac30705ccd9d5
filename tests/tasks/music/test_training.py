"""Training: every architecture learns something, reports held-out scores, loads back."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.tasks.music.conftest import TINY, TRAINED
from tympan.client import Client
from tympan.config import Settings
from tympan.errors import Conflict
from tympan.tasks.music import load_music_model
from tympan.tasks.music.corpus import Piece
from tympan.tasks.music.tokens import VOCAB
from tympan.tasks.music.training import TrainReport, split_sequences


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


def test_retraining_replaces_the_model_folder_whole(
    music_settings: Settings, music_api: Client, tmp_path: Path
) -> None:
    """A retrain swaps the whole folder (files written in place would survive) in one step."""
    from tympan.tasks.music import train_options
    from tympan.tasks.music.training import model_dir, train_music_model

    for cache in (music_settings.models_dir / "music").glob("corpus-*.json"):
        (tmp_path / "music").mkdir(exist_ok=True)
        shutil.copy(cache, tmp_path / "music" / cache.name)  # parsed once already
    options = train_options(music_settings, "folk-markov")
    train_music_model(tmp_path, "folk-markov", options)
    folder = model_dir(tmp_path, "folk-markov")
    (folder / "left-from-the-old-run.txt").write_text("x")
    report = train_music_model(tmp_path, "folk-markov", options)
    assert sorted(p.name for p in folder.iterdir()) == ["counts.json", "model.json"]
    assert load_music_model(tmp_path, "folk-markov").report == report
    assert not [p for p in folder.parent.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_a_fresh_install_trains_a_quick_first_model_then_the_full_one(
    music_settings: Settings, music_api: Client, tmp_path: Path
) -> None:
    """Stage one (few pieces, short budget) is saved and loadable before stage two replaces it."""
    from tympan.tasks.music import train_stages, training_stages

    settings = make_settings(tmp_path, **TINY, music_first_pieces=10, music_first_seconds=2.0)
    for cache in (music_settings.models_dir / "music").glob("corpus-*.json"):
        (settings.models_dir / "music").mkdir(parents=True, exist_ok=True)
        shutil.copy(cache, settings.models_dir / "music" / cache.name)  # parsed once already
    stages = training_stages(settings, "folk-markov")
    assert [(s.corpus_limit, s.max_seconds) for s in stages] == [(10, 2.0), (30, 6.0)]
    saved: list[int] = []
    fractions: list[float] = []

    def on_saved(report: TrainReport) -> None:
        loaded = load_music_model(settings.models_dir, "folk-markov")
        saved.append(sum(loaded.report.pieces.values()))

    final = train_stages(
        settings.models_dir, "folk-markov", stages, lambda f, _: fractions.append(f), on_saved
    )
    assert saved == [10, 30] and sum(final.pieces.values()) == 30
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert training_stages(settings, "folk-markov") == [stages[-1]]  # trained: full run only
    unstaged = make_settings(tmp_path / "other", **TINY, music_first_pieces=0)
    assert len(training_stages(unstaged, "folk-markov")) == 1
