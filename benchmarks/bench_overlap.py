"""Overlapped speech: train the speaker-count model, then DER with and without it.

Training data: the single-speaker sets of ``../shared/eval`` whose licences allow it
(``asr_adapt``: Apache 2.0, 44 speakers; ``speakers``: LibriSpeech, CC BY 4.0, 10;
``asr_ljspeech``: public domain, 1) and the dev half of the noise recordings, mixed into
conversations by ``ConversationSimulator``. No diarization recording is trained on.

Test: every recording of ``../shared/eval/diarization``, real overlaps (EN2002a: 40 % of its
speech). The threshold is chosen on the dev clips (``bench_diarization.DEV``, AMI training
meetings), mean DER at collar 0.25; the held-out recordings report it. Also: ROC AUC of the
model's P(2+) for overlapped against single-speaker reference frames, and what the model
costs per hour of audio. ``BENCH_OVERLAP_STEPS`` overrides the training steps.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate
from sklearn.metrics import roc_auc_score

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table
from benchmarks.bench_diarization import DEV, joined
from benchmarks.bench_speakers import DIARIZATION, read_rows, read_rttm
from tympan.audio import decode_audio
from tympan.tasks.diarization import DiarizationOptions, diarize
from tympan.tasks.diarization.overlap_training import (
    OverlapTrainOptions,
    noise_recordings,
    speech_clips,
    train_overlap_model,
)
from tympan.tasks.speakers import GE2E_MODEL_ID, Ge2eEncoder
from tympan.tasks.vad import SileroVad

TRAIN_SETS = ("asr_adapt", "speakers", "asr_ljspeech")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
COLLARS = (0.0, 0.25)
STEPS = int(os.environ.get("BENCH_OVERLAP_STEPS", OverlapTrainOptions().steps))


def training_clips() -> list[tuple[str, Path]]:
    """(speaker, path) of every clip of the training sets, speakers prefixed by their set."""
    clips = []
    for name in TRAIN_SETS:
        for row in read_rows(EVAL_DIR / name / "manifest.csv"):
            clips.append((f"{name}:{row['speaker']}", EVAL_DIR / name / row["audio"]))
    return clips


def dev_noises() -> list[np.ndarray]:
    """The dev half of the noise recordings (the test half stays out), read through a
    temporary folder of links, as a server folder would be."""
    with tempfile.TemporaryDirectory(prefix="tympan-bench-noise-") as name:
        folder = Path(name)
        for row in read_rows(EVAL_DIR / "noise" / "manifest.csv"):
            if row["split"] == "dev":
                source = EVAL_DIR / "noise" / row["audio"]
                (folder / source.name).symlink_to(source.resolve())
        return noise_recordings(folder)


def _turns(result_segments: list) -> Annotation:
    hypothesis = Annotation()
    for number, turn in enumerate(result_segments):
        hypothesis[Segment(turn.start, turn.end), number] = turn.speaker
    return hypothesis


def _frame_counts(reference: Annotation, frames: int) -> np.ndarray:
    counts = np.zeros(frames, int)
    for segment in reference.itersegments():
        counts[round(segment.start * 100) : round(segment.end * 100)] += 1
    return counts


def run() -> str:
    vad, encoder = SileroVad(), Ge2eEncoder()
    started = time.perf_counter()
    clips = speech_clips(training_clips(), vad)
    noises = dev_noises()
    model = train_overlap_model(clips, noises, OverlapTrainOptions(steps=STEPS))
    train_minutes = (time.perf_counter() - started) / 60
    meta = model.meta
    recordings = [
        (row, decode_audio(DIARIZATION / row["audio"]), read_rttm(DIARIZATION / row["rttm"]))
        for row in read_rows(DIARIZATION / "manifest.csv")
    ]
    settings = [("off", None), *((f"{t}", t) for t in THRESHOLDS)]
    der: dict[tuple[str, str, float], float] = {}
    aucs = []
    for row, audio, reference in recordings:
        uem = Timeline([Segment(0, audio.duration)])
        for label, threshold in settings:
            options = DiarizationOptions(identify=False)
            if threshold is not None:
                options = replace(options, overlap_threshold=threshold)
            counter = model if threshold is not None else None
            result = diarize(audio, vad, encoder, GE2E_MODEL_ID, options, overlap_model=counter)
            for collar in COLLARS:
                metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
                der[row["audio"], label, collar] = metric(
                    reference, _turns(result.segments), uem=uem
                )
        scores = model.overlap_probabilities(audio.samples)
        counts = _frame_counts(reference, scores.shape[0])
        speech = counts >= 1
        auc = roc_auc_score(counts[speech] >= 2, scores[speech]) if (counts >= 2).any() else None
        aucs.append([row["audio"], float(np.mean(counts[speech] >= 2)), auc])
    dev_names = [row["audio"] for row, _, _ in recordings if row["audio"] in DEV]
    test_names = [row["audio"] for row, _, _ in recordings if row["audio"] not in DEV]

    def mean(names: list[str], label: str, collar: float) -> float:
        return float(np.mean([der[name, label, collar] for name in names]))

    chosen = min(
        (label for label, t in settings if t is not None),
        key=lambda label: (round(mean(dev_names, label, 0.25), 4), -float(label)),
    )
    rows = []
    for row, _, _ in recordings:
        name = row["audio"]
        split = "dev" if name in DEV else "test"
        rows.append(
            [
                name,
                split,
                *(der[name, label, 0.25] for label, _ in settings),
                der[name, "off", 0.0],
                der[name, chosen, 0.0],
            ]
        )
    for group, names in (("dev", dev_names), ("test", test_names)):
        rows.append(
            [
                f"mean {group}",
                "",
                *(mean(names, label, 0.25) for label, _ in settings),
                mean(names, "off", 0.0),
                mean(names, chosen, 0.0),
            ]
        )
    headers = ["recording", "split", "off (0.25)", *(f"{t} (0.25)" for t in THRESHOLDS)]
    headers += ["off (collar 0)", f"{chosen} (collar 0)"]
    audio = joined(10.0)
    started = time.perf_counter()
    model.overlap_probabilities(audio.samples)
    seconds = time.perf_counter() - started
    cost = (
        f"P(2+) for 10 minutes of joined recordings: {seconds:.1f} s "
        f"({audio.duration / seconds:.0f}x real time)."
    )
    trained = (
        f"Trained {meta['steps']} steps (batch {meta['batch_size']}) on {meta['train_clips']} "
        f"clips of {meta['train_speakers']} speakers and {meta['noise_recordings']} noise "
        f"recordings in {train_minutes:.1f} min (training loop {meta['train_seconds'] / 60:.1f} "
        f"min); overlapped-frame AUC on simulated conversations of "
        f"{meta['validation_speakers']} held-out speakers {meta['validation_auc_before']} -> "
        f"{meta['validation_auc']}."
    )
    return (
        f"Machine: {machine_load()}.\n\n{trained}\n\n"
        f"### DER (collar 0.25 unless named) by threshold; dev chooses {chosen}\n\n"
        f"{markdown_table(headers, rows)}\n\n"
        "### How well P(2+) ranks overlapped frames (reference speech only)\n\n"
        f"{markdown_table(['recording', 'overlapped share', 'ROC AUC'], aucs)}\n\n{cost}"
    )
