"""``multimodal`` classifiers: the audio branch and the text branch fused into one network.

    clip -> Whisper encoder (pooled, as ``transfer``)  ----\\
                                                          concatenated -> ``transfer``'s MLP
    clip -> bundled ASR transcript -> TF-IDF n-grams ----/

The fusion is late, at the features: the pooled encoder embedding and the transcript's text
features (``text_features``) are concatenated and go into the existing ``transfer`` head,
which is trained, exported to ONNX and refitted like any other (only its audio columns are
standardised, see ``train``). Chosen by measurement (``benchmarks/bench_multimodal.py``,
RAVDESS sentence x emotion, unseen actors): 0.656 accuracy against 0.630 for audio alone and
0.594 for the two branches' probabilities combined with a weight picked on validation. The
version's report says how the audio branch alone and the text branch alone do on the same
validation split, beside the fused network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from tympan.tasks.classifiers.evaluate import evaluate
from tympan.tasks.classifiers.inputs import PreparedInputs
from tympan.tasks.classifiers.text_features import TextFeatures
from tympan.tasks.classifiers.train import Split, TrainConfig, train_network

__all__ = ["branch_report", "fuse", "fuse_prepared"]


def fuse(audio_inputs: np.ndarray, text: TextFeatures, transcripts: Sequence[str]) -> np.ndarray:
    """The network input of each clip: its audio embedding, then its transcript's features."""
    return np.concatenate([audio_inputs, text.transform(transcripts)], axis=1)


def fuse_prepared(prepared: PreparedInputs, text: TextFeatures) -> PreparedInputs:
    """``prepared`` (audio embeddings and their augmented copies) with text columns added;
    a copy says what its original says, so it gets the original's text features."""
    if prepared.transcripts is None:
        raise ValueError("multimodal inputs need the clips' transcripts")
    columns = text.transform(prepared.transcripts)
    shape = replace(prepared.shape, input_dim=prepared.shape.input_dim + text.dim)
    return replace(
        prepared,
        originals=np.concatenate([prepared.originals, columns], axis=1),
        copies=[np.concatenate([copy, columns], axis=1) for copy in prepared.copies],
        shape=shape,
    )


def _branch_accuracy(
    fused: PreparedInputs,
    columns: slice,
    targets: np.ndarray,
    split: Split,
    labels: list[str],
    config: TrainConfig,
) -> float | None:
    """Validation accuracy of the ``transfer`` head trained on some ``columns`` of the fused
    inputs (with the augmented copies, as the fused network); None when there are none."""
    if fused.originals[:, columns].shape[1] == 0:
        return None
    rows = split.train
    inputs = np.concatenate([fused.originals[rows]] + [copy[rows] for copy in fused.copies])
    validation = fused.originals[split.validation][:, columns]
    result = train_network(
        np.ascontiguousarray(inputs[:, columns]),
        np.tile(targets[rows], 1 + len(fused.copies)),
        np.ascontiguousarray(validation),
        targets[split.validation],
        len(labels),
        replace(config, arch="transfer"),
    )
    with torch.no_grad():
        logits = result.model(torch.from_numpy(np.ascontiguousarray(validation)))
    return evaluate(targets[split.validation], logits.argmax(dim=1).numpy(), labels).accuracy


def branch_report(
    fused: PreparedInputs,
    text: TextFeatures,
    targets: np.ndarray,
    split: Split,
    labels: list[str],
    config: TrainConfig,
    fused_accuracy: float,
) -> dict[str, Any]:
    """Audio-only, text-only and fused validation accuracy on the version's own split (each
    branch trained alone, without augmented copies), and what the text branch saw."""
    audio_dim = fused.shape.input_dim - text.dim
    transcripts = fused.transcripts or []
    return {
        "fusion": "audio embedding and transcript TF-IDF concatenated into one head",
        "audio_only_accuracy": _branch_accuracy(
            fused, slice(0, audio_dim), targets, split, labels, config
        ),
        "text_only_accuracy": _branch_accuracy(
            fused, slice(audio_dim, None), targets, split, labels, config
        ),
        "fused_accuracy": fused_accuracy,
        "text_features": text.dim,
        "empty_transcripts": sum(1 for transcript in transcripts if not transcript.strip()),
        "transcripts": len(transcripts),
    }
