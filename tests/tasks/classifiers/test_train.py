"""Validation splits, training with early stopping, and the incremental head refit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tympan.errors import InvalidParameter
from tympan.tasks.classifiers.incremental import refit_head
from tympan.tasks.classifiers.train import (
    TrainConfig,
    refit_network,
    train_network,
    validation_split,
)


def test_speaker_disjoint_split_keeps_every_class() -> None:
    labels = np.repeat([0, 1, 2], 20)
    speakers = [f"s{i % 5}" for i in range(60)]
    split = validation_split(labels, speakers, 0.2, seed=0)
    assert split.method == "speaker-disjoint"
    held = {speakers[i] for i in split.validation}
    assert held == set(split.validation_speakers)
    assert not held & {speakers[i] for i in split.train}
    assert set(labels[split.train]) == set(labels[split.validation]) == {0, 1, 2}


def test_split_falls_back_to_stratified() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    # class 1 only comes from speaker b: holding out either speaker loses a class
    speakers = ["a", "a", "a", "b", "b", "b"]
    split = validation_split(labels, speakers, 0.3, seed=0)
    assert split.method == "stratified"
    assert set(labels[split.train]) == {0, 1} and set(labels[split.validation]) == {0, 1}
    unnamed = validation_split(labels, [None] * 6, 0.3, seed=0)
    assert unnamed.method == "stratified"


def _blobs(seed: int, per: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (3, 16))
    values = np.concatenate([c + rng.normal(0, 1, (per, 16)) for c in centres])
    return values.astype(np.float32), np.repeat(np.arange(3), per)


def test_training_learns_and_stops_early() -> None:
    x, y = _blobs(0)
    vx, vy = _blobs(0, per=10)
    config = TrainConfig(arch="transfer", max_epochs=200, patience=3)
    result = train_network(x, y, vx, vy, 3, config)
    assert result.epochs_run < 200 and result.best_epoch <= result.epochs_run
    assert result.curves["validation_accuracy"][result.best_epoch - 1] > 0.9
    again = train_network(x, y, vx, vy, 3, config)
    assert again.curves == result.curves, "a fixed seed must repeat the run"


def test_refit_trains_a_fresh_network_for_the_chosen_epochs() -> None:
    x, y = _blobs(0)
    vx, vy = _blobs(0, per=10)
    config = TrainConfig(arch="transfer", max_epochs=200, patience=3)
    chosen = train_network(x, y, vx, vy, 3, config)
    seen: list[str] = []
    refit = refit_network(
        np.concatenate([x, vx]), np.concatenate([y, vy]), 3, config, chosen.best_epoch,
        lambda _, message: seen.append(message),
    )  # fmt: skip
    assert len(seen) == chosen.best_epoch and seen[-1].endswith(
        f"{chosen.best_epoch}/{chosen.best_epoch}"
    )
    assert refit is not chosen.model and not refit.training
    test_x, test_y = _blobs(0, per=30)
    with torch.no_grad():
        accuracy = (refit(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean()
    assert accuracy > 0.9
    again = refit_network(np.concatenate([x, vx]), np.concatenate([y, vy]), 3, config, 2)
    twice = refit_network(np.concatenate([x, vx]), np.concatenate([y, vy]), 3, config, 2)
    for left, right in zip(again.state_dict().values(), twice.state_dict().values(), strict=True):
        assert torch.equal(left, right), "a fixed seed must repeat the refit"


def test_refit_adds_a_class_without_forgetting() -> None:
    x, y = _blobs(1)
    vx, vy = _blobs(1, per=10)
    result = train_network(x, y, vx, vy, 3, TrainConfig(arch="transfer", max_epochs=30))
    embeddings = result.model.embed(torch.from_numpy(np.concatenate([x, vx])))
    embeddings = embeddings.detach().numpy()
    targets = np.concatenate([y, vy])
    validation = np.r_[np.zeros(len(y), bool), np.ones(len(vy), bool)]
    new = np.random.default_rng(2).normal(0, 1, (5, 16)).astype(np.float32) + 6
    new_embeddings = result.model.embed(torch.from_numpy(new)).detach().numpy()
    refit = refit_head(
        result.model, ["a", "b", "c"], embeddings, targets, validation, new_embeddings, "d"
    )
    assert refit.labels == ["a", "b", "c", "d"] and refit.weight.shape[0] == 4
    assert refit.old_accuracy_after >= refit.old_accuracy_before - 0.05
    assert refit.new_examples_accuracy == 1.0


def test_mixup_blends_training_embeddings_and_still_learns() -> None:
    """Mixup (the default) trains on blends of pairs, so its curves differ from plain
    training's (``mixup=0``), and it still separates the classes; a fixed seed repeats it."""
    x, y = _blobs(0)
    vx, vy = _blobs(0, per=10)
    mixup = TrainConfig(max_epochs=10, patience=10)
    blended = train_network(x, y, vx, vy, 3, mixup)
    plain = train_network(x, y, vx, vy, 3, TrainConfig(max_epochs=10, patience=10, mixup=0))
    assert blended.curves["train_loss"] != plain.curves["train_loss"]
    assert blended.curves["validation_accuracy"][-1] > 0.9
    assert train_network(x, y, vx, vy, 3, mixup).curves == blended.curves


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("arch", "rnn"),
        ("max_epochs", 0),
        ("dropout", 1.0),
        ("augment_copies", 11),
        ("mixup", -0.1),
        ("mixup", 1.5),
    ],
)
def test_config_validation(field, value) -> None:
    with pytest.raises(InvalidParameter) as info:
        TrainConfig(**{field: value}).validate()
    assert info.value.param == field


def test_estimated_speakers_make_the_split_disjoint_given_ones_win() -> None:
    labels = np.repeat([0, 1, 2], 20)
    voices = [f"voice-{i % 4}" for i in range(60)]
    split = validation_split(labels, [None] * 60, 0.2, seed=0, estimated=voices)
    assert split.method == "estimated-speaker-disjoint"
    held = {voices[i] for i in split.validation}
    assert held == set(split.validation_speakers) and not held & {voices[i] for i in split.train}
    given = validation_split(labels, [f"s{i % 5}" for i in range(60)], 0.2, 0, estimated=voices)
    assert given.method == "speaker-disjoint"
    # one voice per class: holding any voice out loses a class, so stratified
    lossy = validation_split(labels, [None] * 60, 0.2, 0, estimated=[f"v{x}" for x in labels])
    assert lossy.method == "stratified"
    single = validation_split(labels, [None] * 60, 0.2, 0, estimated=["v"] * 60)
    assert single.method == "stratified"
