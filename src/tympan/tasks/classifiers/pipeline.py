"""One training run, start to finish: dataset -> inputs -> split -> train -> evaluate -> export.

``run_training`` writes every file of the new version into a work folder and returns what
the registry records; the caller publishes the folder and adds the version, so a failure at
any step leaves neither a row nor artifacts behind.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tympan.models.threads import torch_threads
from tympan.tasks.asr import WhisperHandle
from tympan.tasks.classifiers.architectures import Classifier
from tympan.tasks.classifiers.augment import Augmentation
from tympan.tasks.classifiers.dataset import Dataset, check_dataset, raise_for_report
from tympan.tasks.classifiers.drift import DriftReference
from tympan.tasks.classifiers.evaluate import (
    Evaluation,
    confusion_png,
    curves_png,
    evaluate,
    report_markdown,
)
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier, export_onnx, quantize_onnx
from tympan.tasks.classifiers.features import FeatureCache, WhisperEncoder
from tympan.tasks.classifiers.inputs import PreparedInputs, prepare_inputs
from tympan.tasks.classifiers.multimodal import branch_report, fuse_prepared
from tympan.tasks.classifiers.text_features import TEXT_FEATURES_FILE, TextFeatures
from tympan.tasks.classifiers.train import (
    Split,
    TrainConfig,
    TrainResult,
    refit_network,
    train_network,
    validation_split,
)
from tympan.tasks.classifiers.versions import StoredEmbeddings, save_network
from tympan.tasks.classifiers.voices import SpeakerEstimate, estimate_speakers
from tympan.tasks.speakers import SpeakerEncoder

__all__ = ["FittedNetworks", "TrainedVersion", "fit_networks", "run_training", "write_report"]

Progress = Callable[[float, str], None]
MAX_MISCLASSIFIED = 12  # validation clips kept per version for the report page to play


@dataclass(frozen=True, slots=True)
class TrainedVersion:
    """A finished run: files in ``folder``, plus what its report and registry row need.

    The report is written when the version number is allocated (``write_report``), so two
    runs of one classifier finishing together cannot claim the same number.
    """

    labels: list[str]
    metrics: dict[str, Any]
    config: dict[str, Any]
    folder: Path
    evaluation: Evaluation
    context: dict[str, Any]
    curves: dict[str, list[float]] | None


def embed_all(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    """Body embeddings of ``inputs`` in chunks."""
    with torch.no_grad():
        chunks = [
            model.embed(torch.from_numpy(chunk))
            for chunk in np.array_split(inputs, max(1, len(inputs) // 256))
        ]
    return torch.cat(chunks).numpy().astype(np.float32)


def write_report(
    folder: Path,
    ref: str,
    arch: str,
    evaluation: Evaluation,
    context: dict[str, Any],
    curves: dict[str, list[float]] | None,
) -> dict[str, Any]:
    """``report.json``, ``report.md``, ``confusion.png`` (and ``curves.png``) in ``folder``."""

    report = {
        "ref": ref,
        "arch": arch,
        "evaluation": evaluation.to_dict(),
        "curves": curves or {},
        **context,
    }
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    (folder / "report.md").write_text(report_markdown(report))
    (folder / "confusion.png").write_bytes(confusion_png(evaluation, ref))
    if curves:
        (folder / "curves.png").write_bytes(curves_png(curves, ref))
    return report


def _serving_probabilities(graph: Path, meta: ModelMeta, inputs: np.ndarray) -> np.ndarray:
    return OnnxClassifier(graph, meta).probabilities(inputs)


def keep_misclassified(
    dataset: Dataset, rows: np.ndarray, predictions: np.ndarray, labels: list[str], work: Path
) -> list[dict[str, str]]:
    """Copy up to ``MAX_MISCLASSIFIED`` wrongly predicted clips (dataset rows ``rows``) into
    ``work`` as ``misclassified-N.ext`` so the report page can play them; what each one is."""
    kept: list[dict[str, str]] = []
    for row, predicted in zip(rows.tolist(), predictions.tolist(), strict=True):
        example = dataset.examples[row]
        if example.label == labels[predicted] or len(kept) == MAX_MISCLASSIFIED:
            continue
        name = f"misclassified-{len(kept)}{example.path.suffix.lower()}"
        shutil.copyfile(example.path, work / name)
        inside = example.path.is_relative_to(dataset.root)
        source = str(example.path.relative_to(dataset.root)) if inside else example.path.name
        kept.append({"file": name, "source": source, "label": example.label,
                     "predicted": labels[predicted]})  # fmt: skip
    return kept


def _training_rows(
    prepared: PreparedInputs, targets: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of dataset ``rows``: the originals, then each augmented copy."""
    inputs = np.concatenate([prepared.originals[rows]] + [c[rows] for c in prepared.copies])
    return inputs, np.tile(targets[rows], 1 + len(prepared.copies))


@dataclass(frozen=True, slots=True)
class FittedNetworks:
    """The split, the network early stopping kept (validated) and the one to serve."""

    split: Split
    estimate: SpeakerEstimate | None
    result: TrainResult
    served: Classifier


def fit_networks(
    prepared: PreparedInputs,
    targets: np.ndarray,
    speakers: Sequence[str | None],
    classes: int,
    config: TrainConfig,
    progress: Progress,
) -> FittedNetworks:
    """Split (speakers given, else estimated from ``prepared.voices``, else stratified), train
    with early stopping, then with ``config.refit`` train again on every example for the
    epoch count it chose (progress 0.3 to 0.9)."""
    estimate = estimate_speakers(prepared.voices, targets) if prepared.voices is not None else None
    split = validation_split(
        targets,
        speakers,
        config.validation_fraction,
        config.seed,
        estimate.groups if estimate is not None else None,
    )
    share = 0.6 / (2 if config.refit else 1)
    with torch_threads(1):
        result = train_network(
            *_training_rows(prepared, targets, split.train),
            prepared.originals[split.validation],
            targets[split.validation],
            classes,
            config,
            lambda fraction, message: progress(0.3 + share * fraction, message),
        )
        served = result.model
        if config.refit:
            served = refit_network(
                *_training_rows(prepared, targets, np.arange(targets.size)),
                classes,
                config,
                result.best_epoch,
                lambda fraction, message: progress(0.3 + share * (1 + fraction), message),
            )
    return FittedNetworks(split, estimate, result, served)


def run_training(
    dataset: Dataset,
    config: TrainConfig,
    work: Path,
    cache: FeatureCache,
    encoder: WhisperEncoder | None,
    max_seconds: float,
    progress: Progress,
    speaker_encoder: SpeakerEncoder | None = None,
    noises: Sequence[np.ndarray] = (),
    asr: WhisperHandle | None = None,
) -> TrainedVersion:
    """Train, evaluate and export one version into ``work`` (created).

    When not every example names a speaker and ``speaker_encoder`` (the bundled GE2E) is given,
    speakers are estimated from the clips' voices so validation holds out unseen voices.
    ``noises`` (background recordings, 16 kHz) replace synthetic noise in the augmented copies.
    ``multimodal`` needs ``asr`` (the bundled Whisper) to transcribe the clips.
    """
    started = time.perf_counter()
    report = check_dataset(dataset)
    raise_for_report(report)
    labels = dataset.labels
    targets = np.array([labels.index(example.label) for example in dataset.examples])
    speakers = [example.speaker for example in dataset.examples]
    prepared = prepare_inputs(
        dataset,
        config.arch,
        config.augment_copies,
        config.seed,
        cache,
        encoder,
        max_seconds,
        progress,
        speaker_encoder if not dataset.has_speakers else None,
        Augmentation(config.augment, noises),
        asr if config.arch == "multimodal" else None,
        config.layers(),
    )
    text = None
    if config.arch == "multimodal":
        text = TextFeatures.fit(prepared.transcripts or [])
        prepared = fuse_prepared(prepared, text)
    fitted = fit_networks(prepared, targets, speakers, len(labels), config, progress)
    split, estimate, result, served = fitted.split, fitted.estimate, fitted.result, fitted.served
    validation_x, validation_y = prepared.originals[split.validation], targets[split.validation]
    with torch_threads(1):
        embeddings = embed_all(served, prepared.originals)
    progress(0.92, "exporting")
    work.mkdir(parents=True, exist_ok=True)
    shape = prepared.shape
    meta = shape.meta(config.arch, labels)
    # The validation figures (report, drift reference, misclassified clips) are those of the
    # network early stopping kept: the refit one has heard the validation clips.
    export_onnx(result.model, shape.shape, work / "model.onnx")
    scores = _serving_probabilities(work / "model.onnx", meta, validation_x)
    predictions = scores.argmax(axis=1)
    if served is not result.model:
        export_onnx(served, shape.shape, work / "model.onnx")
    (work / "meta.json").write_text(meta.to_json())
    save_network(served, meta, work / "network.pt")
    is_validation = np.zeros(targets.size, bool)
    is_validation[split.validation] = True
    StoredEmbeddings(embeddings, targets, is_validation).save(work / "embeddings.npz")
    evaluation = evaluate(validation_y, predictions, labels)
    DriftReference.build(
        prepared.levels, validation_x, scores, prepared.originals[split.train]
    ).save(work / "drift.npz")
    misclassified = keep_misclassified(dataset, split.validation, predictions, labels, work)
    notes: dict[str, Any] = {
        "training_seconds": round(time.perf_counter() - started, 2),
        "trained_by": f"{socket.gethostname()}:{os.getpid()}",  # this process or a Ray task's
    }
    if config.refit:
        notes["served_network"] = (
            f"refit on all {targets.size} examples for {result.best_epoch} epochs; the "
            "validation figures are the early-stopped network's"
        )
    if config.quantize:
        quantize_onnx(work / "model.onnx", work / "model.int8.onnx")
        quantized_scores = _serving_probabilities(work / "model.int8.onnx", meta, validation_x)
        quantized = evaluate(validation_y, quantized_scores.argmax(axis=1), labels)
        float_scores = _serving_probabilities(work / "model.onnx", meta, validation_x)
        served_float = evaluate(validation_y, float_scores.argmax(axis=1), labels)
        notes["int8_accuracy"] = quantized.accuracy  # of the served (possibly refit) network
        notes["int8_accuracy_change"] = round(quantized.accuracy - served_float.accuracy, 4)
    context = {
        "split": {
            "method": split.method,
            "train": int(split.train.size),
            "validation": int(split.validation.size),
            "validation_speakers": [str(s) for s in split.validation_speakers],
            **(estimate.to_dict() if estimate is not None else {}),
        },
        "dataset": {
            "examples": report.examples,
            "classes": report.classes,
            "speakers": report.speakers,
        },
        "dataset_fingerprint": dataset.fingerprint,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "notes": notes,
        "misclassified": misclassified,
    }
    metrics = {
        "accuracy": evaluation.accuracy,
        "macro_f1": evaluation.macro_f1,
        "validation_examples": evaluation.examples,
        "split": split.method,
        **({"estimated_speakers": estimate.count} if estimate is not None else {}),
        "best_epoch": result.best_epoch,
        **notes,
    }
    if text is not None:
        text.save(work / TEXT_FEATURES_FILE)
        with torch_threads(1):
            branches = branch_report(
                prepared, text, targets, split, labels, config, evaluation.accuracy
            )
        context["multimodal"] = branches
        for key in ("audio_only_accuracy", "text_only_accuracy"):
            metrics[key] = branches[key]
    progress(1.0, "done")
    return TrainedVersion(
        labels, metrics, config.to_dict(), work, evaluation, context, result.curves
    )
