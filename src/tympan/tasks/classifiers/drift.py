"""Drift of a classifier version: its recent clips against its validation clips.

Each version keeps ``drift.npz``, written at training, with the statistics serving measures
on every clip it classifies, so the two are comparable:

- ``confidence`` (the top probability; only a fall drifts, and only one of at least
  ``CONFIDENCE_FALL`` in the mean) and ``label`` (the predicted class): what the model says,
  on its validation clips (clips it did not learn from);
- ``duration``, ``loudness`` (RMS level in dBFS) and ``snr`` (the blind estimate that
  ``noise_reduction=auto`` uses): what the audio is like, on every clip of its dataset;
- ``novelty`` (only a rise drifts): how far the clip's model input lies from the training
  inputs, as the RMS of its standardised distance to their mean (the mean over frames of the
  log-mel bands, or the Whisper encoder embedding), on its validation clips. A new microphone,
  noise or a new population of speakers moves it even when the audio's level does not.

``tympan.drift`` compares them (Kolmogorov-Smirnov, total variation); ``drift_report`` says
which statistics moved and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tympan.audio import Audio
from tympan.drift import Shift, Windows, categorical_shift, numeric_shift
from tympan.tasks.enhancement.snr import estimate_snr_db

__all__ = [
    "CONFIDENCE_FALL",
    "INPUT_STATISTICS",
    "DriftReference",
    "DriftReport",
    "audio_levels",
    "clip_observation",
    "drift_report",
    "input_summaries",
]

INPUT_STATISTICS = ("duration", "loudness", "snr", "novelty")
CONFIDENCE_FALL = 0.02
"""How far the mean confidence (the accuracy the model expects of itself) must fall, beyond
the test's distance, for ``confidence`` to drift (``numeric_shift``'s ``least_change``).
Confidences crowd near 1, where the test notices shifts that change nothing: a test
classifier trained with mixup, on 24 clean clips of its own speakers, went from a median of
0.9935 to 0.9882 (distance 0.58, p = 0.0002)."""
_RULES: dict[str, tuple[Literal["both", "up", "down"], float]] = {
    "confidence": ("down", CONFIDENCE_FALL),
    "duration": ("both", 0.0),
    "loudness": ("both", 0.0),
    "snr": ("both", 0.0),
    "novelty": ("up", 0.0),
}
"""Each numeric statistic's drifting direction and least change of its mean."""
_SILENCE_DBFS = -120.0
_SNR_SCALE = "wada"
"""What a reference's ``snr`` values are on: ``estimate_snr_db``'s method when it was saved.
A reference saved before WADA-SNR (or on another scale) is not compared on ``snr``: the two
estimators read the same audio several dB apart, which would look like drift."""


def input_summaries(inputs: np.ndarray) -> np.ndarray:
    """One vector per model input: log-mel ``(N, frames, bands)`` averaged over frames,
    embeddings ``(N, dims)`` as they are."""
    return inputs.mean(axis=1) if inputs.ndim == 3 else inputs


def loudness_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (-120 for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return max(_SILENCE_DBFS, 20.0 * np.log10(rms)) if rms > 0 else _SILENCE_DBFS


def audio_levels(audios: Sequence[Audio]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Duration, loudness and estimated SNR of each clip."""
    return (
        np.array([audio.duration for audio in audios]),
        np.array([loudness_dbfs(audio.samples) for audio in audios]),
        np.array([estimate_snr_db(audio) for audio in audios]),
    )


def clip_observation(audio: Audio, model_input: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """What serving records of one classified clip (``scores``: its class probabilities)."""
    duration, loudness, snr = (float(level[0]) for level in audio_levels([audio]))
    return {
        "confidence": float(scores.max()),
        "label": int(scores.argmax()),
        "duration": duration,
        "loudness": loudness,
        "snr": snr,
        "summary": input_summaries(model_input[np.newaxis])[0],
    }


@dataclass(frozen=True, slots=True)
class DriftReference:
    """A version's validation clips, statistic by statistic, and the training inputs' centre
    and spread that ``novelty`` is measured from."""

    confidence: np.ndarray
    label: np.ndarray
    duration: np.ndarray
    loudness: np.ndarray
    snr: np.ndarray
    novelty: np.ndarray
    centre: np.ndarray
    spread: np.ndarray

    @classmethod
    def build(
        cls,
        levels: tuple[np.ndarray, np.ndarray, np.ndarray],
        validation_inputs: np.ndarray,
        validation_scores: np.ndarray,
        training_inputs: np.ndarray,
    ) -> DriftReference:
        """The reference of a version: ``levels`` (``audio_levels``) of every dataset clip,
        model inputs and class probabilities of its validation clips, its training inputs."""
        training = input_summaries(training_inputs)
        centre = training.mean(axis=0)
        spread = training.std(axis=0) + 1e-3 * (float(training.std()) + 1e-9)
        duration, loudness, snr = levels
        return cls(
            confidence=validation_scores.max(axis=1),
            label=validation_scores.argmax(axis=1),
            duration=duration,
            loudness=loudness,
            snr=snr,
            novelty=_novelty(input_summaries(validation_inputs), centre, spread),
            centre=centre,
            spread=spread,
        )

    def save(self, path: Path) -> None:
        """Write ``drift.npz`` (with the scale its ``snr`` is on)."""
        arrays = {item.name: getattr(self, item.name) for item in fields(self)}
        with path.open("wb") as handle:
            np.savez(handle, snr_scale=np.array(_SNR_SCALE), **arrays)

    @classmethod
    def load(cls, path: Path) -> DriftReference:
        """Read ``drift.npz``; ``snr`` is empty when it was saved on another scale."""
        with np.load(path) as data:
            reference = cls(**{item.name: data[item.name] for item in fields(cls)})
            scale = str(data["snr_scale"]) if "snr_scale" in data.files else None
        return reference if scale == _SNR_SCALE else replace(reference, snr=np.zeros(0))


def _novelty(summaries: np.ndarray, centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square((summaries - centre) / spread), axis=1))


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Whether a version's recent clips drifted from its validation clips, and what to do."""

    model: str
    recent: int
    min_samples: int
    threshold: float
    drifting: bool
    statistics: list[Shift]
    advice: str


def drift_report(
    name: str,
    ref: str,
    reference: DriftReference | None,
    windows: Windows,
    threshold: float,
    min_samples: int,
) -> DriftReport:
    """Compare the recent clips of version ``ref`` of classifier ``name`` with its reference."""
    recent = windows.recent(ref)

    def report(statistics: list[Shift], advice: str) -> DriftReport:
        drifting = any(shift.drifting for shift in statistics)
        return DriftReport(ref, len(recent), min_samples, threshold, drifting, statistics, advice)

    if reference is None:
        return report([], f"{ref} has no drift reference (it was trained before Tympan kept "
                          "one): retrain it to watch its drift.")  # fmt: skip
    if len(recent) < min_samples:
        return report([], f"{min_samples - len(recent)} more predictions are needed to judge.")
    column = {key: np.array([item[key] for item in recent]) for key in recent[0]}
    column["novelty"] = _novelty(np.stack(column["summary"]), reference.centre, reference.spread)
    statistics = [
        numeric_shift(key, getattr(reference, key), column[key], threshold, *rule)
        for key, rule in _RULES.items()
        if getattr(reference, key).size  # an old reference's ``snr`` (another scale)
    ]
    classes = int(max(reference.label.max(), column["label"].max())) + 1
    statistics.append(
        categorical_shift("label", reference.label, column["label"], classes, threshold)
    )
    return report(statistics, _advice(name, [s.statistic for s in statistics if s.drifting]))


def _advice(name: str, moved: list[str]) -> str:
    if not moved:
        return "No statistic has moved past the threshold."
    listed = ", ".join(moved)
    if any(statistic in INPUT_STATISTICS for statistic in moved):
        return (
            f"The audio it receives no longer looks like its validation audio ({listed}). "
            f"Label some recent clips and add them with POST /v1/classifiers/{name}/examples, "
            "or retrain on a dataset that includes such audio."
        )
    return (
        f"The audio looks like its validation audio but the predictions moved ({listed}): "
        "the mix of classes may have changed, or the model is less sure. Label some recent "
        f"clips to check its accuracy, then add them with POST /v1/classifiers/{name}/examples "
        "or retrain."
    )
