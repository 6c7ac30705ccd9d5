"""Train a music model on the corpus within a time budget, save it, load it back.

A model lives in ``<models_dir>/music/<model_id>/``: ``model.json`` (architecture, corpus,
split sizes, held-out scores, training time) and ``weights.pt`` (a PyTorch state dict) or,
for the n-gram baseline, ``counts.json``. Nothing here is committed; ``tympan music train``
(or the first request for an untrained model) makes it. A trained model is written to a
staged sibling folder and replaced in one step (``replace_folder``), so a kill while saving,
or a load during a retrain, never mixes the weights of one run with the report of another.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tympan.errors import Conflict
from tympan.models.threads import torch_threads
from tympan.shipping import Shipment, writable_or
from tympan.store.artifacts import replace_folder
from tympan.store.jobs import RemoteTasks
from tympan.tasks.music.corpus import Piece, load_corpus
from tympan.tasks.music.models import (
    SIZES,
    MarkovModel,
    NetworkConfig,
    SequenceModel,
    batches,
    build_network,
    perplexity,
)
from tympan.tasks.music.tokens import PAD, encode, transpose

__all__ = [
    "MusicModel",
    "TrainOptions",
    "TrainReport",
    "load_music_model",
    "model_dir",
    "remote_stage_runner",
    "split_sequences",
    "train_and_ship",
    "train_music_model",
    "train_stages",
]

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
StageRunner = Callable[[Path, str, "TrainOptions", Progress], "TrainReport"]
_SHIFTS = range(-6, 6)  # transposition augmentation: every key, within the pitch range


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """How to train one model: which, how big, for how long."""

    style: str = "folk"
    arch: str = "lstm"
    size: str = "small"
    max_seconds: float = 180.0
    max_epochs: int = 40
    corpus_limit: int = 2000
    batch_size: int = 16  # more, smaller steps: better held-out NLL per CPU second
    learning_rate: float = 3e-3
    seed: int = 0
    threads: int = 1


@dataclass(slots=True)
class TrainReport:
    """What a training run did and how well the result scores on held-out pieces."""

    model_id: str
    style: str
    arch: str
    size: str
    pieces: dict[str, int]
    epochs: int
    corpus_seconds: float
    train_seconds: float
    valid_nll: float
    test_nll: float
    test_perplexity: float
    parameters: int
    network: dict[str, Any] = field(default_factory=dict)
    trained_by: str = ""  # "host:pid" of the process that trained it (empty in older reports)


@dataclass(slots=True)
class MusicModel:
    """A loaded model: the sequence model and the report it was trained with."""

    model: SequenceModel
    report: TrainReport


def model_dir(models_dir: Path, model_id: str) -> Path:
    """Where ``model_id`` is stored."""
    return models_dir / "music" / model_id


def split_sequences(pieces: list[Piece]) -> dict[str, list[list[int]]]:
    """Token sequences of the pieces, by split."""
    splits: dict[str, list[list[int]]] = {"train": [], "valid": [], "test": []}
    for piece in pieces:
        splits[piece.split].append(encode(piece.melody))
    return splits


def _augmented(sequences: list[list[int]], rng: random.Random) -> list[list[int]]:
    """Each sequence moved to a random key (kept as is when the shift leaves the range)."""
    return [transpose(ids, rng.choice(_SHIFTS)) or ids for ids in sequences]


def _mean_nll(model: SequenceModel, sequences: list[list[int]]) -> float:
    total, count = model.sequence_nll(sequences)
    return total / count if count else float("nan")


def _train_network(
    config: NetworkConfig,
    splits: dict[str, list[list[int]]],
    options: TrainOptions,
    progress: Progress,
) -> tuple[nn.Module, int]:
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    network = build_network(config)
    optimiser = torch.optim.AdamW(network.parameters(), lr=options.learning_rate)
    started = time.monotonic()
    best_nll, best_state, epochs = float("inf"), None, 0
    while epochs < options.max_epochs and time.monotonic() - started < options.max_seconds:
        network.train()
        epoch_batches = batches(
            _augmented(splits["train"], rng), config.max_len, options.batch_size
        )
        rng.shuffle(epoch_batches)
        for inputs, targets in epoch_batches:
            loss = nn.functional.cross_entropy(
                network(inputs).transpose(1, 2), targets, ignore_index=PAD
            )
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            if time.monotonic() - started >= options.max_seconds:
                break
        epochs += 1
        valid_nll = _mean_nll(network, splits["valid"] or splits["train"][:50])
        if valid_nll < best_nll:
            best_nll = valid_nll
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        elapsed = time.monotonic() - started
        progress(
            min(0.99, elapsed / options.max_seconds),
            f"epoch {epochs}: valid NLL {valid_nll:.3f} nats/token ({elapsed:.0f} s)",
        )
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return network, epochs


def train_music_model(
    models_dir: Path,
    model_id: str,
    options: TrainOptions,
    progress: Progress | None = None,
) -> TrainReport:
    """Parse the corpus (cached), train ``options.arch`` on its train split, save, report.

    ``options.max_seconds`` bounds the training itself; parsing the corpus (once per style
    and corpus size, then cached) comes on top and is reported as ``corpus_seconds``.
    """
    with torch_threads(options.threads):
        return _train_and_save(models_dir, model_id, options, progress)


def train_stages(
    models_dir: Path,
    model_id: str,
    stages: list[TrainOptions],
    progress: Progress | None = None,
    on_saved: Callable[[TrainReport], None] | None = None,
    run_stage: StageRunner | None = None,
) -> TrainReport:
    """Train ``model_id`` once per stage, each result replacing the last (a quick model first,
    then the full one); ``on_saved`` runs here after each save. ``run_stage`` runs one
    ``train_music_model`` call (elsewhere, e.g. as a Ray task); by default, in this process.
    The last stage's report."""
    report_progress = progress or (lambda fraction, message: None)
    run = run_stage or train_music_model
    report = None
    for index, options in enumerate(stages):

        def stage_progress(fraction: float, message: str, index: int = index) -> None:
            report_progress((index + fraction) / len(stages), message)

        report = run(models_dir, model_id, options, stage_progress)
        if on_saved is not None:
            on_saved(report)
    if report is None:
        raise ValueError("no training stages given")
    return report


def remote_stage_runner(remote: RemoteTasks, cpus: int) -> StageRunner:
    """A ``run_stage`` for ``train_stages`` that trains each stage through ``remote`` (a Ray
    task reserving ``cpus`` CPUs, with as many torch threads), its progress relayed here, and
    installs the model it sends back into this machine's ``models_dir``."""

    def run(models_dir: Path, model_id: str, options: TrainOptions, progress: Progress) -> Any:
        report, files = remote.run(
            train_and_ship,
            models_dir.resolve(),  # a Ray worker's working directory is not ours
            model_id,
            replace(options, threads=cpus),
            num_cpus=cpus,
            progress=progress,
        )
        target = model_dir(models_dir, model_id)
        with _staged(target) as staged:
            files.unpack(staged)
        return report

    return run


def train_and_ship(
    models_dir: Path, model_id: str, options: TrainOptions, progress: Progress
) -> tuple[TrainReport, Shipment]:
    """``train_music_model`` on any machine: in ``models_dir`` where this machine may write it
    (so its corpus parse is cached for the next stage), else in a scratch folder; the model's
    files come back by value."""
    with tempfile.TemporaryDirectory(prefix="tympan-music-") as scratch:
        local = writable_or(models_dir, Path(scratch))
        report = train_music_model(local, model_id, options, progress)
        return report, Shipment.of_folder(model_dir(local, model_id))


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A sibling folder to write a model into; it replaces ``target`` in one step when the
    block ends without error, and is removed in any case."""
    staged = target.with_name(f".tmp-{target.name}-{uuid.uuid4().hex[:8]}")
    staged.mkdir(parents=True)
    try:
        yield staged
        replace_folder(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _train_and_save(
    models_dir: Path, model_id: str, options: TrainOptions, progress: Progress | None
) -> TrainReport:
    report_progress = progress or (lambda fraction, message: None)
    started = time.monotonic()
    pieces = load_corpus(
        options.style,
        options.corpus_limit,
        models_dir / "music",
        lambda fraction, message: report_progress(0.2 * fraction, message),
    )
    corpus_seconds = time.monotonic() - started
    splits = split_sequences(pieces)
    if not splits["train"]:
        raise ValueError(f"the {options.style} corpus gave no training pieces")
    with _staged(model_dir(models_dir, model_id)) as staged:
        report = _fit_and_write(staged, model_id, options, splits, report_progress, corpus_seconds)
    report_progress(1.0, f"trained {model_id}: test perplexity {report.test_perplexity}")
    return report


def _fit_and_write(
    target: Path,
    model_id: str,
    options: TrainOptions,
    splits: dict[str, list[list[int]]],
    report_progress: Progress,
    corpus_seconds: float,
) -> TrainReport:
    """Train on ``splits`` and write the model's files into ``target``; the report."""
    started = time.monotonic()
    if options.arch == "markov":
        model: SequenceModel = MarkovModel().fit(
            [moved for ids in splits["train"] for s in _SHIFTS if (moved := transpose(ids, s))]
        )
        (target / "counts.json").write_text(json.dumps(model.to_json()))  # type: ignore[attr-defined]
        epochs, parameters, network_config = 1, len(model.counts), {}  # type: ignore[attr-defined]
    else:
        config = SIZES[options.size][options.arch]
        network, epochs = _train_network(
            config,
            splits,
            options,
            lambda fraction, message: report_progress(0.2 + 0.75 * fraction, message),
        )
        torch.save(network.state_dict(), target / "weights.pt")
        model = network  # type: ignore[assignment]
        parameters = sum(p.numel() for p in network.parameters())
        network_config = asdict(config)
    train_seconds = time.monotonic() - started
    report_progress(0.97, "scoring held-out pieces")
    test_total, test_count = model.sequence_nll(splits["test"])
    report = TrainReport(
        model_id=model_id,
        style=options.style,
        arch=options.arch,
        size=options.size,
        pieces={name: len(items) for name, items in splits.items()},
        epochs=epochs,
        corpus_seconds=round(corpus_seconds, 2),
        train_seconds=round(train_seconds, 2),
        valid_nll=round(_mean_nll(model, splits["valid"]), 4) if splits["valid"] else 0.0,
        test_nll=round(test_total / test_count, 4) if test_count else 0.0,
        test_perplexity=round(perplexity(test_total, test_count), 3) if test_count else 0.0,
        parameters=parameters,
        network=network_config,
        trained_by=f"{socket.gethostname()}:{os.getpid()}",  # this process or a Ray task's
    )
    (target / "model.json").write_text(json.dumps(asdict(report), indent=2))
    return report


def is_trained(models_dir: Path, model_id: str) -> bool:
    """Whether ``model_id`` has been trained into ``models_dir``."""
    return (model_dir(models_dir, model_id) / "model.json").is_file()


def load_music_model(models_dir: Path, model_id: str) -> MusicModel:
    """The trained model; ``Conflict`` (409) telling how to train it when it is missing."""
    folder = model_dir(models_dir, model_id)
    if not is_trained(models_dir, model_id):
        raise Conflict(
            f"Music model {model_id!r} is not trained yet: run `tympan music train --model "
            f"{model_id}` (or POST /v1/music/train).",
            param="model",
            code="model_not_trained",
        )
    report = TrainReport(**json.loads((folder / "model.json").read_text()))
    if report.arch == "markov":
        data = json.loads((folder / "counts.json").read_text())
        return MusicModel(MarkovModel.from_json(data), report)
    network = build_network(NetworkConfig(**report.network))
    network.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
    network.eval()
    return MusicModel(network, report)  # type: ignore[arg-type]
