"""Real speech for the speaker and diarization tests: LibriSpeech speakers, the pyannote sample."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io.wavfile

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import Audio, decode_audio

__all__ = [
    "DIARIZATION_DIR",
    "SAMPLE_TURNS",
    "SPEAKERS_DIR",
    "overlapped_seconds",
    "read_rttm",
    "read_stm",
    "stm_speaker_at",
    "trials",
    "utterances",
    "write_spans",
]

SPEAKERS_DIR = EVAL_DIR / "speakers"
DIARIZATION_DIR = EVAL_DIR / "diarization"
SAMPLE_TURNS = {
    # Overlap-free stretches of the two voices in sample.wav (from sample.rttm).
    "Diane": [(11.03, 14.49), (18.59, 21.49)],  # speaker90
    "Sheila": [(14.70, 17.92), (22.0, 27.8)],  # speaker91
}


def utterances() -> dict[str, list[Path]]:
    """Each LibriSpeech speaker's utterance paths, in manifest order."""
    by_speaker: dict[str, list[Path]] = defaultdict(list)
    for row in read_manifest("speakers"):
        by_speaker[row["speaker"]].append(SPEAKERS_DIR / row["audio"])
    return dict(by_speaker)


def trials() -> list[tuple[Path, Path, bool]]:
    """``(enroll, test, same speaker)`` rows of trials.csv."""
    with (SPEAKERS_DIR / "trials.csv").open(newline="") as handle:
        return [
            (SPEAKERS_DIR / r["enroll"], SPEAKERS_DIR / r["test"], r["target"] == "1")
            for r in csv.DictReader(handle)
        ]


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    """``(start, end, speaker)`` turns of an RTTM file."""
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        start, duration = float(fields[3]), float(fields[4])
        turns.append((start, start + duration, fields[7]))
    return turns


def write_spans(source: Path, spans: list[tuple[float, float]], target: Path) -> Path:
    """Cut ``spans`` out of ``source`` and write them back to back as a 16 kHz WAV."""
    audio: Audio = decode_audio(source)
    pieces = [audio.slice(start, end).samples for start, end in spans]
    samples = (np.concatenate(pieces) * 32767).astype(np.int16)
    scipy.io.wavfile.write(target, audio.sample_rate, samples)
    return target


def read_stm(path: Path) -> list[tuple[float, float, str]]:
    """``(start, end, speaker)`` of each line of an STM transcript."""
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        rows.append((float(fields[3]), float(fields[4]), fields[2]))
    return rows


def stm_speaker_at(rows: list[tuple[float, float, str]], time: float) -> str:
    """The STM speaker talking at ``time`` (the nearest line's when ``time`` is in a pause)."""
    inside = [speaker for start, end, speaker in rows if start <= time <= end]
    if inside:
        return inside[0]
    return min(rows, key=lambda row: min(abs(time - row[0]), abs(time - row[1])))[2]


def overlapped_seconds(segments: Sequence) -> float:
    """Seconds where turns of two different speakers overlap, summed over pairs of turns."""
    total = 0.0
    for i, a in enumerate(segments):
        for b in segments[i + 1 :]:
            if a.speaker != b.speaker:
                total += max(0.0, min(a.end, b.end) - max(a.start, b.start))
    return total
