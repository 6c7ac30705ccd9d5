"""Custom classifiers: keyword spotting (FSDD), emotion (RAVDESS subset), accent, incremental.

- FSDD has 6 speakers (not 4): leave-one-speaker-out, train on 5, test on the 6th, rotate.
  ``transfer`` runs all 6 folds from encoder inputs computed once for the whole set (the
  fold's share of that encoding time is added to its training time). The log-mel networks
  (``cnn``, ``crnn``, ``attention``) cost far more per epoch on 2 shared cores, so they run
  one fold (test speaker ``george``) with at most ``_MEL_EPOCHS`` epochs and no augmented
  copies (SpecAugment and time shifts still apply).
- Emotion: the README's 4 actor-disjoint folds (6 actors each), ``transfer``.
- Accent: ``accent_id`` (7 first languages x 16 speakers, one clip each; non-commercial data,
  evaluation only), 4 speaker-disjoint folds, ``transfer``.
- New voices (issue 17's unseen-speaker folder case, refit and augmentation variants):
  ``bench_voices.py``.
- Incremental: through the service (in-process API): train on digits 0-8 of the 5 training
  speakers, add "9" from 5 clips, score the held-out speaker before and after.
Latency compares ``classify`` (encoder + ONNX head) with the bare CTranslate2 encoder call on
the same silence-padded window (3 s for FSDD: each clip is encoded padded to the version's
encoder window, see ``tympan.tasks.classifiers.features``).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from benchmarks._harness import EVAL_DIR, markdown_table, peak_rss_mb, ratio, time_call
from tympan.audio import decode_audio
from tympan.models.threads import torch_threads
from tympan.tasks.classifiers.dataset import Dataset, load_dataset
from tympan.tasks.classifiers.evaluate import evaluate
from tympan.tasks.classifiers.export import OnnxClassifier, export_onnx
from tympan.tasks.classifiers.features import FeatureCache, WhisperEncoder
from tympan.tasks.classifiers.inputs import PreparedInputs, prepare_inputs
from tympan.tasks.classifiers.predict import classify
from tympan.tasks.classifiers.train import TrainConfig, train_network, validation_split

_MEL_EPOCHS = 8
_MEL_FOLD = "george"


def _labels(dataset: Dataset) -> tuple[np.ndarray, list[str]]:
    labels = dataset.labels
    return np.array([labels.index(e.label) for e in dataset.examples]), labels


def _fold(
    prepared: PreparedInputs,
    targets: np.ndarray,
    speakers: np.ndarray,
    test: np.ndarray,
    labels: list[str],
    config: TrainConfig,
    workdir: Path,
) -> tuple[float, float, float, OnnxClassifier]:
    """Train on the rows not in ``test`` (speaker-disjoint validation); test accuracy, F1, s."""
    train_rows = np.flatnonzero(~test)
    split = validation_split(targets[train_rows], list(speakers[train_rows]), 0.2, config.seed)
    fit, hold = train_rows[split.train], train_rows[split.validation]
    copies = prepared.copies[: config.augment_copies]
    inputs = np.concatenate([prepared.originals[fit]] + [c[fit] for c in copies])
    with torch_threads(1):
        result = train_network(
            inputs,
            np.tile(targets[fit], 1 + len(copies)),
            prepared.originals[hold],
            targets[hold],
            len(labels),
            config,
        )
    shape = prepared.shape
    meta = shape.meta(config.arch, labels)
    export_onnx(result.model, shape.shape, workdir / "model.onnx")
    served = OnnxClassifier(workdir / "model.onnx", meta)
    predicted = served.probabilities(prepared.originals[test]).argmax(axis=1)
    scores = evaluate(targets[test], predicted, labels)
    return scores.accuracy, scores.macro_f1, result.seconds, served


def _prepare(dataset: Dataset, arch: str, copies: int, cache: FeatureCache, encoder):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    prepared = prepare_inputs(dataset, arch, copies, 0, cache, encoder, 60.0, lambda *_: None)
    return prepared, time.perf_counter() - started


def _keyword_spotting(cache: FeatureCache, encoder: WhisperEncoder, workdir: Path) -> str:
    dataset = load_dataset(EVAL_DIR / "fsdd" / "manifest.csv")
    targets, labels = _labels(dataset)
    speakers = np.array([e.speaker for e in dataset.examples])
    rows = []
    transfer, encode_seconds = _prepare(dataset, "transfer", 1, cache, encoder)
    per_pass = encode_seconds / 2  # originals + one augmented copy
    served = None
    for copies in (0, 1):
        config = TrainConfig(arch="transfer", augment_copies=copies)
        accuracies, seconds = [], []
        for speaker in sorted(set(speakers)):
            test = speakers == speaker
            accuracy, _, train_s, served = _fold(
                transfer, targets, speakers, test, labels, config, workdir
            )
            accuracies.append(accuracy)
            seconds.append(train_s + per_pass * (1 + copies) * float((~test).mean()))
        rows.append(
            [
                f"transfer ({copies} aug. copies)",
                "6 (all)",
                f"{np.mean(accuracies):.4f}",
                f"{min(accuracies):.3f}-{max(accuracies):.3f}",
                f"{statistics.median(seconds):.1f}",
            ]
        )
    mel, mel_seconds = _prepare(dataset, "cnn", 0, cache, None)
    test = speakers == _MEL_FOLD
    for arch in ("cnn", "crnn", "attention"):
        config = TrainConfig(arch=arch, augment_copies=0, max_epochs=_MEL_EPOCHS, patience=3)  # type: ignore[arg-type]
        accuracy, _, train_s, _ = _fold(mel, targets, speakers, test, labels, config, workdir)
        rows.append(
            [
                arch,
                f"1 (test {_MEL_FOLD})",
                f"{accuracy:.4f}",
                "-",
                f"{train_s + mel_seconds * float((~test).mean()):.1f}",
            ]
        )
    table = markdown_table(
        ["architecture", "folds", "mean accuracy (unseen speaker)", "fold range", "train s/fold"],
        rows,
    )
    return table + "\n\n" + _latency(served, encoder, dataset)


def _latency(served: OnnxClassifier | None, encoder: WhisperEncoder, dataset: Dataset) -> str:
    assert served is not None
    clips = [decode_audio(e.path) for e in dataset.examples[:: len(dataset.examples) // 20]]
    full, bare = [], []
    window = served.meta.encoder_seconds
    for _ in range(5):  # interleaved, so load changes hit both alike; the fastest repeat counts
        full.append(time_call(lambda: [classify("b", served, c, encoder) for c in clips], 1, 0).min)
        bare.append(time_call(lambda: [encoder.embed([c], window) for c in clips], 1, 0).min)
    per_clip_ms = 1000 * min(full) / len(clips)
    return markdown_table(
        ["inference (transfer, 21 FSDD clips)", "ms per clip (min of 5)", "vs bare encoder"],
        [
            [
                f"classify: encoder ({window:g} s window) + ONNX head",
                f"{per_clip_ms:.1f}",
                f"{ratio(min(full), min(bare)):.2f}x",
            ],
            [
                f"bare CTranslate2 encoder ({window:g} s window) + pooling",
                f"{1000 * min(bare) / len(clips):.1f}",
                "1.00x",
            ],
        ],
    )


def _emotion(cache: FeatureCache, encoder: WhisperEncoder, workdir: Path) -> str:
    dataset = load_dataset(EVAL_DIR / "emotion" / "manifest.csv")
    targets, labels = _labels(dataset)
    actors = np.array([e.speaker for e in dataset.examples])
    fold_of = np.array([(int(a[-2:]) - 1) // 6 for a in actors])
    rows = []
    for copies in (0, 1):
        prepared, _ = _prepare(dataset, "transfer", copies, cache, encoder)
        config = TrainConfig(arch="transfer", augment_copies=copies)
        results = [
            _fold(prepared, targets, actors, fold_of == fold, labels, config, workdir)[:2]
            for fold in range(4)
        ]
        accuracy = [r[0] for r in results]
        f1 = [r[1] for r in results]
        rows.append(
            [
                f"transfer ({copies} aug. copies)",
                f"{np.mean(accuracy):.4f}",
                f"{np.mean(f1):.4f}",
                " / ".join(f"{a:.3f}" for a in accuracy),
            ]
        )
    return markdown_table(
        ["emotion (8 classes, actor-disjoint, 4 folds)", "accuracy", "macro-F1", "per fold"], rows
    )


def _accent(cache: FeatureCache, encoder: WhisperEncoder, workdir: Path) -> str:
    """First-language ID on accent_id: 4 speaker-disjoint folds (4 speakers per class each),
    ``transfer`` on Whisper encoder features; accuracy, macro-F1 and the pooled confusion."""
    dataset = load_dataset(EVAL_DIR / "accent_id" / "manifest.csv")
    targets, labels = _labels(dataset)
    speakers = np.array([e.speaker for e in dataset.examples])
    seen: Counter[int] = Counter()  # each class's speakers dealt round the folds in order
    fold_of = np.zeros_like(targets)
    for row, target in enumerate(targets):
        fold_of[row] = seen[target] % 4
        seen[target] += 1
    rows, confusion = [], ""
    for copies in (0, 1):
        prepared, _ = _prepare(dataset, "transfer", copies, cache, encoder)
        config = TrainConfig(arch="transfer", augment_copies=copies)
        predicted = np.zeros_like(targets)
        for fold in range(4):
            test = fold_of == fold
            served = _fold(prepared, targets, speakers, test, labels, config, workdir)[3]
            predicted[test] = served.probabilities(prepared.originals[test]).argmax(axis=1)
        scores = evaluate(targets, predicted, labels)
        rows.append([f"transfer ({copies} aug. copies)", scores.accuracy, scores.macro_f1])
        if copies == 0:
            confusion = markdown_table(
                ["true \\ predicted", *labels],
                [[label, *counts] for label, counts in zip(labels, scores.confusion, strict=True)],
            )
    table = markdown_table(
        ["accent (7 first languages, 4 speaker-disjoint folds)", "accuracy", "macro-F1"], rows
    )
    return f"{table}\n\nPooled confusion over the 4 folds (0 augmented copies):\n\n{confusion}"


def _incremental(workdir: Path) -> str:
    from tympan.client import Client
    from tympan.config import Settings

    source = EVAL_DIR / "fsdd"
    held_out = "george"
    data = workdir / "fsdd-0-8"
    (data / "audio").mkdir(parents=True)
    lines = ["path,label,speaker"]
    for example in load_dataset(source / "manifest.csv").examples:
        if example.label != "9" and example.speaker != held_out:
            shutil.copy(example.path, data / "audio" / example.path.name)
            lines.append(f"audio/{example.path.name},{example.label},{example.speaker}")
    (data / "manifest.csv").write_text("\n".join(lines) + "\n")
    test_clips = sorted((source / "audio").glob(f"*_{held_out}_*.flac"))
    new_clips = [source / "audio" / f"9_jackson_{i}.flac" for i in range(5)]

    def score(client: Client, version: int) -> tuple[float, float]:
        old, new = [], []
        for clip in test_clips:
            digit = clip.name.split("_")[0]
            label = client.predict("kws", clip, version=version).label
            (new if digit == "9" else old).append(label == digit)
        return float(np.mean(old)), float(np.mean(new)) if new else 0.0

    with Client.in_process(Settings(_env_file=None, data_dir=workdir / "service")) as client:
        started = time.perf_counter()
        job = client.train_classifier("kws", data, server_path=True)
        client.wait_job(job["id"])
        train_seconds = time.perf_counter() - started
        old_before, _ = score(client, 1)
        added = time_call(lambda: client.add_examples("kws", "9", new_clips, version=1), 1, 0)
        result = added.result
        old_after, new_accuracy = score(client, result.version)
    return markdown_table(
        ["incremental (FSDD, held-out speaker george)", "value"],
        [
            ["end-to-end training via API, digits 0-8, 5 speakers (s)", f"{train_seconds:.1f}"],
            ["add class '9' from 5 clips: wall time of the request (s)", f"{added.min:.2f}"],
            ["new class accuracy on the held-out speaker's 50 '9' clips", f"{new_accuracy:.3f}"],
            ["old classes accuracy before -> after (450 clips)",
             f"{old_before:.3f} -> {old_after:.3f}"],
            ["old classes, service's own validation split, before -> after",
             f"{result.old_accuracy_before:.3f} -> {result.old_accuracy_after:.3f}"],
        ],
    )  # fmt: skip


def run() -> str:
    torch.manual_seed(0)
    workdir = Path(tempfile.mkdtemp(prefix="bench-classifiers-"))
    try:
        cache = FeatureCache(workdir / "cache")
        encoder = WhisperEncoder(threads=1)
        sections = [
            "### Keyword spotting (FSDD, leave-one-speaker-out)",
            _keyword_spotting(cache, encoder, workdir),
            "### Emotion (RAVDESS subset)",
            _emotion(cache, encoder, workdir),
            "### Accent / first-language ID (accent_id, chance 0.143)",
            _accent(cache, encoder, workdir),
            "### Incremental: a new class online",
            _incremental(workdir),
            f"Peak RSS {peak_rss_mb():.0f} MiB.",
        ]
        return "\n\n".join(sections)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
