"""Evaluation reports: accuracy, macro-F1, per-class P/R/F1, confusion matrix, curves.

Metrics come from scikit-learn; the confusion matrix and training curves are drawn with
matplotlib (Agg, no display). The report is JSON for programs and markdown for people.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

__all__ = [
    "ClassMetrics",
    "Evaluation",
    "confusion_png",
    "curves_png",
    "evaluate",
    "report_markdown",
]


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How a model does on held-out examples."""

    accuracy: float
    macro_f1: float
    examples: int
    per_class: list[ClassMetrics]
    confusion: list[list[int]]
    labels: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(targets: np.ndarray, predictions: np.ndarray, labels: list[str]) -> Evaluation:
    """Metrics of ``predictions`` against ``targets`` (both class indices into ``labels``)."""
    indices = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        targets, predictions, labels=indices, zero_division=0
    )
    per_class = [
        ClassMetrics(label, round(float(p), 4), round(float(r), 4), round(float(f), 4), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    ]
    present = sorted(set(targets.tolist()))
    return Evaluation(
        accuracy=round(float(accuracy_score(targets, predictions)), 4),
        macro_f1=round(
            float(f1_score(targets, predictions, labels=present, average="macro", zero_division=0)),
            4,
        ),
        examples=int(targets.size),
        per_class=per_class,
        confusion=confusion_matrix(targets, predictions, labels=indices).tolist(),
        labels=labels,
    )


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def confusion_png(evaluation: Evaluation, title: str) -> bytes:
    """The confusion matrix (rows: true label, columns: predicted) as a PNG."""
    from matplotlib.figure import Figure

    size = max(4.0, 0.5 * len(evaluation.labels) + 2)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    matrix = np.asarray(evaluation.confusion)
    axes.imshow(matrix, cmap="Blues")
    ticks = range(len(evaluation.labels))
    axes.set_xticks(ticks, evaluation.labels, rotation=45, ha="right")
    axes.set_yticks(ticks, evaluation.labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > matrix.max() / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=color)
    return _png(figure)


def curves_png(curves: dict[str, list[float]], title: str) -> bytes:
    """Training and validation loss, and validation accuracy, per epoch, as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.5))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for name in ("train_loss", "validation_loss"):
        if curves.get(name):
            loss_axes.plot(range(1, len(curves[name]) + 1), curves[name], label=name)
    loss_axes.set_xlabel("epoch")
    loss_axes.legend()
    if curves.get("validation_accuracy"):
        values = curves["validation_accuracy"]
        accuracy_axes.plot(range(1, len(values) + 1), values)
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel("validation accuracy")
    figure.suptitle(title)
    return _png(figure)


def branch_rows(branches: dict[str, Any]) -> list[tuple[str, str]]:
    """A multimodal version's validation accuracy per branch: each alone, then fused."""
    rows = [
        ("audio only", branches["audio_only_accuracy"]),
        ("text only", branches["text_only_accuracy"]),
        ("fused (served)", branches["fused_accuracy"]),
    ]
    return [(name, "-" if value is None else f"{value:.4f}") for name, value in rows]


def branch_summary(branches: dict[str, Any]) -> str:
    """How a multimodal version fuses, and what its text branch had to read."""
    return (
        f"{branches['fusion']}; {branches['text_features']} text features, "
        f"{branches['empty_transcripts']} of {branches['transcripts']} transcripts empty"
    )


def report_markdown(report: dict[str, Any]) -> str:
    """A readable page of a version's report (the JSON ``report`` written at training)."""
    evaluation = report["evaluation"]
    lines = [
        f"# {report['ref']} ({report['arch']})",
        "",
        f"- accuracy: **{evaluation['accuracy']:.4f}**, macro-F1: **{evaluation['macro_f1']:.4f}** "
        f"on {evaluation['examples']} validation examples",
        f"- split: {report['split']['method']} ({report['split']['train']} train, "
        f"{report['split']['validation']} validation"
        + (
            f"; {report['split']['estimated_speakers']} speakers estimated from voices"
            if "estimated_speakers" in report["split"]
            else ""
        )
        + (
            f"; validation speakers: {', '.join(report['split']['validation_speakers'])})"
            if report["split"].get("validation_speakers")
            else ")"
        ),
        f"- dataset fingerprint: `{report['dataset_fingerprint'][:16]}`, "
        f"{report['dataset']['examples']} examples",
    ]
    for key, value in report.get("notes", {}).items():
        lines.append(f"- {key}: {value}")
    if "multimodal" in report:
        branches = report["multimodal"]
        lines += ["", f"Multimodal: {branch_summary(branches)}.", ""]
        lines += ["| branch | validation accuracy |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in branch_rows(branches)]
    lines += [
        "",
        "| label | precision | recall | F1 | support |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {row['label']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} "
        f"| {row['support']} |"
        for row in evaluation["per_class"]
    ]
    lines += ["", "![confusion matrix](confusion.png)", ""]
    if report.get("curves"):
        lines += ["![training curves](curves.png)", ""]
    return "\n".join(lines)
