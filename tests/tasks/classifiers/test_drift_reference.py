"""A version's drift reference on disk: what it is compared on, and references saved before
the SNR estimate changed scale (their ``snr`` is not compared)."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from tests.conftest import EVAL_DIR
from tympan.audio import decode_audio
from tympan.drift import Windows
from tympan.tasks.classifiers.drift import (
    DriftReference,
    audio_levels,
    clip_observation,
    drift_report,
)

CLIPS = [EVAL_DIR / "fsdd" / "audio" / f"{digit}_jackson_0.flac" for digit in range(8)]


def _reference_and_windows() -> tuple[DriftReference, Windows]:
    rng = np.random.default_rng(0)
    audios = [decode_audio(path) for path in CLIPS]
    inputs = rng.normal(size=(len(audios), 16)).astype(np.float32)
    scores = rng.dirichlet(np.ones(3), size=len(audios)).astype(np.float32)
    reference = DriftReference.build(audio_levels(audios), inputs, scores, inputs)
    windows = Windows(64)
    for audio, model_input, score in zip(audios, inputs, scores, strict=True):
        windows.add("digits:1", clip_observation(audio, model_input, score))
    return reference, windows


def _compared(reference: DriftReference, windows: Windows) -> set[str]:
    report = drift_report("digits", "digits:1", reference, windows, 0.3, min_samples=4)
    return {shift.statistic for shift in report.statistics}


def test_a_saved_reference_is_compared_on_every_statistic(tmp_path: Path) -> None:
    reference, windows = _reference_and_windows()
    reference.save(tmp_path / "drift.npz")
    loaded = DriftReference.load(tmp_path / "drift.npz")
    assert np.array_equal(loaded.snr, reference.snr) and loaded.snr.size == len(CLIPS)
    assert _compared(loaded, windows) == {
        "confidence", "label", "duration", "loudness", "snr", "novelty",
    }  # fmt: skip


def test_a_reference_saved_on_the_old_snr_scale_is_not_compared_on_snr(tmp_path: Path) -> None:
    """Written as versions trained before WADA-SNR wrote it: no scale recorded."""
    reference, windows = _reference_and_windows()
    with (tmp_path / "drift.npz").open("wb") as handle:
        np.savez(handle, **{item.name: getattr(reference, item.name) for item in fields(reference)})
    loaded = DriftReference.load(tmp_path / "drift.npz")
    assert loaded.snr.size == 0 and np.array_equal(loaded.loudness, reference.loudness)
    assert _compared(loaded, windows) == {"confidence", "label", "duration", "loudness", "novelty"}


def _confidence_report(recent_confidence: float) -> dict[str, bool]:
    """Drift of a version sure of its validation clips (0.99) whose recent clips all get
    ``recent_confidence``: which statistics drift."""
    reference, windows = _reference_and_windows()
    sure = np.full((len(CLIPS), 3), 0.005, np.float32)
    sure[:, 0] = 0.99
    reference = replace(reference, confidence=sure.max(axis=1), label=sure.argmax(axis=1))
    recent = Windows(64)
    for observation in windows.recent("digits:1"):
        recent.add("digits:1", {**observation, "confidence": recent_confidence, "label": 0})
    report = drift_report("digits", "digits:1", reference, recent, 0.3, min_samples=4)
    return {shift.statistic: shift.drifting for shift in report.statistics}


def test_confidence_drifts_only_when_it_falls_by_enough_to_matter() -> None:
    """Every recent clip is below every reference one in both cases (distance 1): a fall of
    0.005 changes nothing a user would act on, one of 0.3 does."""
    assert not _confidence_report(0.985)["confidence"]
    assert _confidence_report(0.99 - 0.3)["confidence"]
