"""New voices: how well a classifier trained with default options does on speakers it never heard.

Every row trains through the product's own path (``fit_networks``: the split, early stopping,
the refit on every clip, the augmented copies) with one ``TrainConfig`` variant, so a row
measures what ``tympan train`` would serve with those options:

- **Unseen speaker, folder layout** (issue 17): all 10 FSDD digits of 3 speakers as a folder
  per class (1,500 clips, no speaker column, so speakers are estimated from voices),
  ``run_training`` end to end, scored on all 500 clips of an unseen fourth speaker; both
  rotations of ``FOLDER_FOLDS``; the same 500 clips are also scored mixed with the *test*
  noise recordings at 10 dB (the ``noise`` variants train on the *dev* ones).
- **FSDD leave-one-speaker-out**: 6 folds (train on 5 speakers, test the 6th), speakers given.
- **Emotion** (RAVDESS subset): the README's 4 actor-disjoint folds.

Seconds: the fit (split, early stopping, refit) with features cached, and apart from it the
encoding of the clips and copies this row needed and the cache did not hold yet (0 when an
earlier row or run computed them: the originals are shared by every row, each recipe's copies
by its rows). A fold from scratch costs its fit plus its share of encoding originals and
copies. Environment:
``BENCH_VOICES_PARTS`` (``folder,loso,emotion``), ``BENCH_VOICES_VARIANTS`` (names of
``VARIANTS``, comma separated), ``BENCH_VOICES_SEEDS`` (``0``; several, comma separated, train
every variant once per seed and add a table of means), ``BENCH_VOICES_CACHE`` (a feature cache
folder kept between runs).

Why several seeds: the seed draws the augmented copies as well as the network's start, and two
draws of the same copy recipe moved the folder case by 1.7 points (docs/classifiers.md), so a
difference of a point between two variants at one seed says nothing about the variants.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table
from tympan.audio import Audio, decode_audio
from tympan.tasks.classifiers.augment import Augmentation
from tympan.tasks.classifiers.dataset import Dataset, load_dataset
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier
from tympan.tasks.classifiers.features import FeatureCache, WhisperEncoder
from tympan.tasks.classifiers.inputs import clip_inputs, meta_shape, prepare_inputs
from tympan.tasks.classifiers.pipeline import fit_networks, run_training
from tympan.tasks.classifiers.train import TrainConfig
from tympan.tasks.enhancement.snr import mix_at_snr
from tympan.tasks.speakers import Ge2eEncoder

FOLDER_FOLDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("george", "jackson", "lucas"), "nicolas"),
    (("nicolas", "theo", "yweweler"), "george"),
)


@dataclass(frozen=True, slots=True)
class Variant:
    """Training options of one row, and whether its copies mix in the dev noise recordings."""

    config: TrainConfig
    real_noise: bool = False


VARIANTS: dict[str, Variant] = {
    "no-refit": Variant(TrainConfig(refit=False, augment="basic")),  # main before this work
    "refit": Variant(TrainConfig(augment="basic")),
    "voices": Variant(TrainConfig(augment="voices")),
    "voices no-mixup": Variant(TrainConfig(augment="voices", mixup=0)),  # default before mixup
    "voices+noise": Variant(TrainConfig(augment="voices"), real_noise=True),
    "voices+noise x2": Variant(TrainConfig(augment="voices", augment_copies=2), real_noise=True),
    # No augmented copy: one encoder pass over the clips instead of two (the time lever).
    "no copies": Variant(TrainConfig(augment_copies=0)),
    # Middle encoder layers pooled beside the last (PyTorch float32 encoder).
    "voices L3": Variant(TrainConfig(augment="voices", encoder_layers="3")),
    "voices all layers": Variant(TrainConfig(augment="voices", encoder_layers="all")),
    # Layers 2, 3 and the last averaged: middle layers at the last one's width.
    "voices 2+3+last": Variant(TrainConfig(augment="voices", encoder_layers="2+3+last")),
}
_ALL_PARTS = "folder,loso,emotion"
NOISY_TEST_SNR_DB = 10.0
NOISY_TEST_SEED = 20
Scores = defaultdict[tuple[str, str], list[float]]  # (variant, measure) -> one value per seed


@dataclass(frozen=True, slots=True)
class Run:
    """One variant trained at one seed."""

    name: str
    seed: int
    variant: Variant

    @property
    def label(self) -> str:
        return self.name if self.seed == 0 else f"{self.name} (seed {self.seed})"


def _chosen(variable: str, default: str) -> list[str]:
    return [name for name in os.environ.get(variable, default).split(",") if name]


def noise_recordings(split: str) -> list[np.ndarray]:
    """One half of the noise recordings (issue 20's split): ``dev`` ones train (augmented
    copies), ``test`` ones only ever score."""
    folder = EVAL_DIR / "noise"
    with (folder / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [decode_audio(folder / r["audio"]).samples for r in rows if r["split"] == split]


def _in_noise(clips: list[Audio], noises: list[np.ndarray]) -> list[Audio]:
    """Each clip in a random stretch of a random ``noises`` recording at ``NOISY_TEST_SNR_DB``."""
    rng = np.random.default_rng(NOISY_TEST_SEED)
    return [
        Audio(mix_at_snr(c.samples, noises[rng.integers(len(noises))], NOISY_TEST_SNR_DB, rng)[0])
        for c in clips
    ]


def _augmentation(variant: Variant, noises: Sequence[np.ndarray]) -> Augmentation:
    return Augmentation(variant.config.augment, noises if variant.real_noise else ())


def _runs(names: list[str], seeds: list[int]) -> list[Run]:
    """Every variant at every seed, seed by seed."""
    return [
        Run(name, seed, replace(VARIANTS[name], config=replace(VARIANTS[name].config, seed=seed)))
        for seed in seeds
        for name in names
    ]


def _means(runs: list[Run], scores: Scores) -> str:
    """Each variant's mean over its seeds of every measure, with the seeds' range; the
    folder case also as the mean of its folds (issue 17's goal)."""
    names = list(dict.fromkeys(run.name for run in runs))
    table = dict(scores)
    for name in names:
        for kind in ("clean", "noisy"):
            folds = [  # one list per test speaker, one value per seed
                values
                for (variant, measure), values in scores.items()
                if variant == name and measure.startswith(f"folder {kind} ->")
            ]
            if folds:
                table[(name, f"folder {kind}, mean of folds")] = np.mean(folds, axis=0).tolist()
    measures = list(dict.fromkeys(measure for _, measure in table))

    def spread(values: list[float]) -> str:
        return f"{np.mean(values):.4f} ({min(values):.3f}-{max(values):.3f})" if values else "-"

    cells = [[name] + [spread(table.get((name, m), [])) for m in measures] for name in names]
    return markdown_table(["variant", *measures], cells)


def _fsdd_manifest() -> Dataset:
    return load_dataset(EVAL_DIR / "fsdd" / "manifest.csv")


def _folder_of(speakers: tuple[str, ...], root: Path) -> Dataset:
    """FSDD clips of ``speakers`` as a folder per digit (no speaker column, neutral names)."""
    examples = (e for e in _fsdd_manifest().examples if e.speaker in speakers)
    for number, example in enumerate(examples):
        target = root / example.label / f"clip{number:05d}{example.path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(example.path)
    return load_dataset(root)


def unseen_speaker_folder(
    cache: FeatureCache,
    encoder: WhisperEncoder,
    workdir: Path,
    runs: list[Run],
    noises: Sequence[np.ndarray],
    scores: Scores,
) -> str:
    """Issue 17's case: train ``run_training`` on a 3-speaker folder, score the 4th speaker."""
    ge2e = Ge2eEncoder()
    rows = []
    for train_speakers, test_speaker in FOLDER_FOLDS:
        tag = "-".join(train_speakers)
        dataset = _folder_of(train_speakers, workdir / f"folder-{tag}")
        unseen = [e for e in _fsdd_manifest().examples if e.speaker == test_speaker]
        clean = [decode_audio(e.path) for e in unseen]
        test_sets = {"clean": clean, "noisy": _in_noise(clean, noise_recordings("test"))}
        truth = np.array([int(e.label) for e in unseen])
        test_inputs: dict[tuple[str, float, str], np.ndarray] = {}  # shared by like variants
        for run in runs:
            config, augmentation = run.variant.config, _augmentation(run.variant, noises)
            started = time.perf_counter()  # encoding (first time only) of clips and copies
            prepare_inputs(
                dataset, config.arch, config.augment_copies, config.seed, cache, encoder, 60.0,
                lambda *_: None, ge2e, augmentation, None, config.layers(),
            )  # fmt: skip
            encoding = time.perf_counter() - started
            work = workdir / f"{tag}-{run.name}-{run.seed}"
            started = time.perf_counter()
            trained = run_training(
                dataset, config, work, cache, encoder, 60.0, lambda *_: None, ge2e,
                augmentation.noises,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            meta = ModelMeta.from_json((work / "meta.json").read_text())
            served = OnnxClassifier(work / "model.onnx", meta)
            labels = np.array([int(label) for label in trained.labels])
            accuracy = {}
            for kind, clips in test_sets.items():
                key = (kind, meta.encoder_seconds, str(meta.encoder_layers))
                if key not in test_inputs:
                    test_inputs[key] = clip_inputs(clips, meta_shape(meta), encoder)
                predicted = served.probabilities(test_inputs[key]).argmax(1)
                accuracy[kind] = float(np.mean(labels[predicted] == truth))
                scores[(run.name, f"folder {kind} -> {test_speaker}")].append(accuracy[kind])
            rows.append(
                [
                    f"{', '.join(train_speakers)} -> {test_speaker}",
                    run.label,
                    trained.metrics["split"],
                    trained.metrics.get("estimated_speakers", "-"),
                    trained.metrics["best_epoch"],
                    f"{trained.metrics['accuracy']:.3f}",
                    f"{accuracy['clean']:.4f}",
                    f"{accuracy['noisy']:.4f}",
                    f"{seconds:.1f}",
                    f"{encoding:.0f}",
                ]
            )
    return markdown_table(
        ["train -> unseen", "variant", "split", "est. speakers", "best epoch",
         "validation acc.", "unseen-speaker acc. (500 clips)",
         f"same in test noises at {NOISY_TEST_SNR_DB:g} dB", "training s (features cached)",
         "encoding s (new)"],
        rows,
    )  # fmt: skip


def _speaker_folds(
    dataset: Dataset,
    fold_of: Callable[[str], int],
    cache: FeatureCache,
    encoder: WhisperEncoder,
    runs: list[Run],
    noises: Sequence[np.ndarray],
    scores: Scores,
    measure: str,
) -> str:
    """Each variant over the folds ``fold_of(speaker)`` gives: test accuracy per fold, mean,
    and the median seconds of one fold from scratch."""
    labels = dataset.labels
    targets = np.array([labels.index(e.label) for e in dataset.examples])
    speakers = [str(e.speaker) for e in dataset.examples]
    fold = np.array([fold_of(s) for s in speakers])
    rows = []
    for run in runs:
        config = run.variant.config
        started = time.perf_counter()
        prepared = prepare_inputs(
            dataset, config.arch, config.augment_copies, config.seed, cache, encoder, 60.0,
            lambda *_: None, None, _augmentation(run.variant, noises), None, config.layers(),
        )  # fmt: skip
        encoding = time.perf_counter() - started
        accuracies, seconds = [], []
        for test_fold in sorted(set(fold.tolist())):
            test = fold == test_fold
            train_rows = np.flatnonzero(~test)
            started = time.perf_counter()
            fitted = fit_networks(
                prepared.rows(train_rows),
                targets[train_rows],
                [speakers[row] for row in train_rows],
                len(labels),
                config,
                lambda *_: None,
            )
            seconds.append(time.perf_counter() - started)
            with torch.no_grad():
                logits = fitted.served(torch.from_numpy(prepared.originals[test]))
            accuracies.append(float((logits.argmax(1).numpy() == targets[test]).mean()))
        scores[(run.name, measure)].append(float(np.mean(accuracies)))
        rows.append(
            [
                run.label,
                f"{np.mean(accuracies):.4f}",
                " / ".join(f"{a:.3f}" for a in accuracies),
                f"{np.median(seconds):.1f}",
                f"{encoding:.0f}",
            ]
        )
    return markdown_table(
        ["variant", "mean accuracy", "per fold", "fit s per fold (median)", "encoding s (new)"],
        rows,
    )


def _actor_fold(actor: str) -> int:
    """The emotion README's folds: actors 1-6, 7-12, 13-18, 19-24."""
    return (int(actor[-2:]) - 1) // 6


def run() -> str:
    parts = _chosen("BENCH_VOICES_PARTS", _ALL_PARTS)
    variants = _chosen("BENCH_VOICES_VARIANTS", ",".join(VARIANTS))
    unknown = sorted(set(variants) - set(VARIANTS)) + sorted(set(parts) - {*_ALL_PARTS.split(",")})
    if unknown:
        raise SystemExit(f"unknown parts or variants: {unknown}")
    seeds = [int(seed) for seed in _chosen("BENCH_VOICES_SEEDS", "0")]
    runs, scores = _runs(variants, seeds), Scores(list)
    torch.manual_seed(0)
    workdir = Path(tempfile.mkdtemp(prefix="bench-voices-"))
    kept = os.environ.get("BENCH_VOICES_CACHE")
    cache = FeatureCache(Path(kept) if kept else workdir / "cache")
    sections = [f"Machine: {machine_load()} at the start."]
    try:
        encoder = WhisperEncoder()  # every core, as `tympan train` encodes
        noises = noise_recordings("dev")
        if "folder" in parts:
            sections += [
                "### Unseen speaker, folder layout (3 training speakers, estimated speakers)",
                unseen_speaker_folder(cache, encoder, workdir, runs, noises, scores),
            ]
        if "loso" in parts:
            fsdd = _fsdd_manifest()
            order = sorted({str(e.speaker) for e in fsdd.examples})
            sections += [
                "### FSDD leave-one-speaker-out (6 folds, speakers given)",
                _speaker_folds(fsdd, order.index, cache, encoder, runs, noises, scores, "LOSO"),
            ]
        if "emotion" in parts:
            emotion = load_dataset(EVAL_DIR / "emotion" / "manifest.csv")
            sections += [
                "### Emotion (RAVDESS subset, 8 classes, 4 actor-disjoint folds)",
                _speaker_folds(
                    emotion, _actor_fold, cache, encoder, runs, noises, scores, "emotion"
                ),
            ]
        if len(seeds) > 1:
            sections += [f"### Means over seeds {', '.join(map(str, seeds))}", _means(runs, scores)]
        sections.append(f"Machine: {machine_load()} at the end.")
        return "\n\n".join(sections)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
