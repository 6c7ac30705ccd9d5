"""Diarization: DER per recording, and how time and memory grow with the recording's length.

Quality: every recording of ``../shared/eval/diarization`` (the pyannote sample and three AMI
openings) through Tympan's pipeline, count estimated, DER from pyannote.metrics with overlap
scored, at collar 0 and 0.25 s, with the defaults before issue 13 (``BEFORE``) and today's,
in one run. The defaults were chosen on a development split: the AMI clips from AMI's
training meetings (``DEV``: ES2003a, EN2005a); the sample and EN2002a (AMI's test split)
are held out. ``dev_grid_tables`` reruns that choice on the dev clips.

Cost: 10, 30 and 60 minutes of joined real recordings (the diarization clips, the long-form
chapter, then the asr_adapt sentences in manifest order), each in its own process so its peak
resident memory is its own, once with the clustering capped at ``MAX_CLUSTERED_WINDOWS``
windows (the default) and, up to ``UNCAPPED_UP_TO_MINUTES``, once uncapped (every window in
one n x n matrix; embedding is in blocks in both).
``TYMPAN_BENCH_DIARIZATION_MINUTES`` (comma-separated) overrides the lengths.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, peak_rss_mb
from benchmarks.bench_speakers import DIARIZATION, SPEAKERS, read_rows, read_rttm
from tympan.audio import Audio, decode_audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.diarization import (
    DiarizationOptions,
    DiarizationResult,
    diarize,
    with_known_speakers,
)
from tympan.tasks.diarization.clustering import MAX_CLUSTERED_WINDOWS
from tympan.tasks.speakers import GE2E_MODEL_ID, Ge2eEncoder, default_threshold
from tympan.tasks.vad import SileroVad, VadOptions, detect_speech

MINUTES = [
    float(m) for m in os.environ.get("TYMPAN_BENCH_DIARIZATION_MINUTES", "10,30,60").split(",")
]
UNCAPPED = 10**9
UNCAPPED_UP_TO_MINUTES = 30.0  # the uncapped run is the "before"; at 60 min it only costs time


DEV = ("ami_ES2003a_0000_0030.flac", "ami_EN2005a_0000_0030.flac")
BEFORE = DiarizationOptions(
    identify=False,
    clustering="agglomerative",
    window_seconds=2.0,
    vad=VadOptions(min_silence_ms=500),
)
"""The defaults before issue 13 item 4 (Silero's own threshold and padding, 2 s windows)."""
AFTER = DiarizationOptions(identify=False)
COLLARS = (0.0, 0.25)


def _hypothesis(
    audio: Audio, vad: SileroVad, encoder: Ge2eEncoder, options: DiarizationOptions
) -> Annotation:
    result = diarize(audio, vad, encoder, GE2E_MODEL_ID, options)
    hypothesis = Annotation()
    for number, turn in enumerate(result.segments):
        hypothesis[Segment(turn.start, turn.end), number] = turn.speaker
    return hypothesis


def _split(audio_name: str) -> str:
    return "dev" if audio_name in DEV else "test"


def _recordings() -> list[tuple[dict[str, str], Audio, Annotation]]:
    return [
        (row, decode_audio(DIARIZATION / row["audio"]), read_rttm(DIARIZATION / row["rttm"]))
        for row in read_rows(DIARIZATION / "manifest.csv")
    ]


def der_tables() -> str:
    """DER per recording and overall (dev, test, all), before and after, collar 0 and 0.25 s,
    overlap scored; then what the errors are made of today (collar 0.25 s)."""
    vad, encoder = SileroVad(), Ge2eEncoder()
    groups = ("dev", "test", "all")
    metrics = {
        (when, group, collar): DiarizationErrorRate(collar=collar, skip_overlap=False)
        for when in ("before", "after")
        for group in groups
        for collar in COLLARS
    }
    rows, parts = [], []
    for row, audio, reference in _recordings():
        uem = Timeline([Segment(0, audio.duration)])
        split = _split(row["audio"])
        found, values = {}, {}
        for when, options in (("before", BEFORE), ("after", AFTER)):
            hypothesis = _hypothesis(audio, vad, encoder, options)
            found[when] = len(hypothesis.labels())
            for collar in COLLARS:
                values[when, collar] = metrics[when, split, collar](reference, hypothesis, uem=uem)
                metrics[when, "all", collar](reference, hypothesis, uem=uem)
        rows.append(
            [
                row["audio"],
                split,
                row["num_speakers"],
                f"{found['before']} -> {found['after']}",
                *(values[w, c] for c in COLLARS for w in ("before", "after")),
            ]
        )
        detail = DiarizationErrorRate(collar=0.25, skip_overlap=False)(
            reference, hypothesis, uem=uem, detailed=True
        )  # ``hypothesis`` is today's (AFTER, the last of the loop)
        total = detail["total"]
        overlap = reference.get_overlap().duration()
        parts.append(
            [
                row["audio"],
                overlap / reference.get_timeline().support().duration(),
                detail["missed detection"] / total,
                detail["false alarm"] / total,
                detail["confusion"] / total,
                detail["diarization error rate"],
            ]
        )
    for group in groups:
        values = [abs(metrics[w, group, c]) for c in COLLARS for w in ("before", "after")]
        rows.append([f"overall {group}", "", "", "", *values])
    headers = ["recording", "split", "speakers", "found before -> after"]
    headers += [f"DER collar {c} {w}" for c in COLLARS for w in ("before", "after")]
    errors = markdown_table(
        [
            "recording",
            "overlapped share of speech",
            "missed",
            "false alarm",
            "confusion",
            "DER",
        ],
        parts,
    )
    title = "Today's errors, as shares of the reference speech (collar 0.25 s):"
    return f"{markdown_table(headers, rows)}\n\n{title}\n\n{errors}"


def dev_grid_tables() -> str:
    """The choice of the defaults, on the dev clips only: speech detection (missed + false
    alarm, the share of reference speech, no speakers) over Silero threshold x padding, then
    DER over clustering x window length with the chosen detection."""
    vad, encoder = SileroVad(), Ge2eEncoder()
    dev = [item for item in _recordings() if item[0]["audio"] in DEV]
    detection = []
    for threshold in (0.5, 0.35, 0.2, 0.1):
        for pad in (30, 150, 300, 500):
            options = VadOptions(threshold=threshold, min_silence_ms=500, speech_pad_ms=pad)
            errors = []
            for _, audio, reference in dev:
                speech = Annotation()
                for number, segment in enumerate(
                    detect_speech(audio, "silero", options, vad).segments
                ):
                    speech[Segment(segment.start, segment.end), number] = "speech"
                detail = DiarizationErrorRate(collar=0.25, skip_overlap=False)(
                    reference, speech, uem=Timeline([Segment(0, audio.duration)]), detailed=True
                )
                errors.append(
                    (detail["missed detection"] + detail["false alarm"]) / detail["total"]
                )
            detection.append([threshold, pad, *errors, float(np.mean(errors))])
    clustering = []
    for method in ("agglomerative", "spectral"):
        for window in (1.5, 2.0, 3.0):
            options = replace(AFTER, clustering=method, window_seconds=window)
            ders = []
            for _, audio, reference in dev:
                hypothesis = _hypothesis(audio, vad, encoder, options)
                uem = Timeline([Segment(0, audio.duration)])
                ders.append(
                    DiarizationErrorRate(collar=0.25, skip_overlap=False)(
                        reference, hypothesis, uem=uem
                    )
                )
            clustering.append([method, window, *ders, float(np.mean(ders))])
    names = [row["audio"] for row, _, _ in dev]
    return (
        markdown_table(["Silero threshold", "padding ms", *names, "mean"], detection)
        + "\n\n"
        + markdown_table(["clustering", "window s", *names, "mean DER collar 0.25"], clustering)
    )


def joined(minutes: float) -> Audio:
    """``minutes`` of real recordings joined end to end (no file repeated)."""
    paths = [DIARIZATION / r["audio"] for r in read_rows(DIARIZATION / "manifest.csv")]
    paths.append(EVAL_DIR / "longform" / "lj001.opus")
    with (EVAL_DIR / "asr_adapt" / "manifest.csv").open(newline="") as handle:
        paths += [EVAL_DIR / "asr_adapt" / r["audio"] for r in csv.DictReader(handle)]
    wanted, parts, total = round(minutes * 60 * 16_000), [], 0
    for path in paths:
        if total >= wanted:
            break
        samples = decode_audio(path).samples
        parts.append(samples)
        total += samples.size
    if total < wanted:
        raise SystemExit(f"only {total / 16_000 / 60:.1f} min of recordings to join")
    return Audio.from_array(np.concatenate(parts)[:wanted])


def measure(minutes: float, max_clustered: int) -> dict[str, float]:
    """One diarization of ``minutes`` of audio in this process: time, speakers, peak memory."""
    audio = joined(minutes)
    vad, encoder = SileroVad(), Ge2eEncoder()
    options = DiarizationOptions(identify=False, max_clustered_windows=max_clustered)
    before = peak_rss_mb()
    started = time.perf_counter()
    result = diarize(audio, vad, encoder, GE2E_MODEL_ID, options)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rtfx": audio.duration / seconds,
        "speakers": result.num_speakers,
        "peak_mb": peak_rss_mb(),
        "peak_before_mb": before,
    }


def _in_child(minutes: float, max_clustered: int) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_diarization",
        str(minutes),
        str(max_clustered),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def cost_table() -> str:
    """RTFx and peak memory per length, capped (default) and uncapped clustering."""
    rows = []
    for minutes in MINUTES:
        runs = [("capped (default)", MAX_CLUSTERED_WINDOWS)]
        if minutes <= UNCAPPED_UP_TO_MINUTES:
            runs.append(("uncapped (before)", UNCAPPED))
        for label, cap in runs:
            m = _in_child(minutes, cap)
            rows.append(
                [
                    minutes,
                    label,
                    m["seconds"],
                    m["rtfx"],
                    m["speakers"],
                    m["peak_mb"],
                    m["peak_mb"] - m["peak_before_mb"],
                ]
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return markdown_table(
        [
            "minutes",
            "clustering",
            "seconds",
            "RTFx",
            "speakers found",
            "peak RSS MiB",
            "growth during diarize MiB",
        ],
        rows,
    )


def _named_share(result: DiarizationResult, reference: Annotation, names: dict[str, str]) -> float:
    """Share of the reference speech whose hypothesis turn carries the right person's name."""
    right = total = 0.0
    for segment, _, label in reference.itertracks(yield_label=True):
        for turn in result.segments:
            overlap = min(segment.end, turn.end) - max(segment.start, turn.start)
            if overlap > 0:
                total += overlap
                right += overlap * (turn.name == names[label])
    return right / total if total else 0.0


def known_speakers_table() -> str:
    """OpenAI-style known speaker references on the pyannote sample: naming accuracy with
    clips of Diane's and Sheila's own turns (2-10 s), and how often a stranger's clip lends
    its name to someone in the recording."""
    vad, encoder = SileroVad(), Ge2eEncoder()
    audio = decode_audio(DIARIZATION / "sample.wav")
    reference = read_rttm(DIARIZATION / "sample.rttm")
    names = {"speaker90": "Diane", "speaker91": "Sheila"}
    threshold = default_threshold(GE2E_MODEL_ID)

    def clip(samples: np.ndarray, start: float, end: float) -> Audio:
        return Audio.from_array(samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])

    def turns_of(label: str) -> list[Audio]:
        return [
            clip(audio.samples, s.start, min(s.end, s.start + 10))
            for s, _, who in reference.itertracks(yield_label=True)
            if who == label and s.duration >= 2
        ]

    def run_with(known: list[tuple[str, Audio]]) -> DiarizationResult:
        index = with_known_speakers(None, encoder, GE2E_MODEL_ID, known)
        options = DiarizationOptions()
        return diarize(audio, vad, encoder, GE2E_MODEL_ID, options, index, threshold)

    shares = [
        _named_share(run_with([("Diane", d), ("Sheila", s)]), reference, names)
        for d in turns_of("speaker90")
        for s in turns_of("speaker91")
    ]
    strangers = {}
    for row in read_rows(SPEAKERS / "manifest.csv"):
        strangers.setdefault(row["speaker"], row["audio"])
    stranger_clips = [
        clip(decode_audio(SPEAKERS / path).samples, 0, 8) for path in strangers.values()
    ]
    diane = turns_of("speaker90")[0]
    with_diane = [run_with([("Diane", diane), ("Stranger", x)]) for x in stranger_clips]
    alone = [run_with([("Stranger", x)]) for x in stranger_clips]

    def false_rate(results: list[DiarizationResult]) -> float:
        return 100 * np.mean([any(t.name == "Stranger" for t in r.segments) for r in results])

    rows = [
        [
            "Diane + Sheila from their own turns",
            len(shares),
            f"{100 * np.mean(shares):.1f} % of speech named right (min {100 * min(shares):.1f} %)",
        ],
        [
            "Diane + a stranger's clip",
            len(with_diane),
            f"stranger's name given in {false_rate(with_diane):.0f} % of runs",
        ],
        [
            "a stranger's clip only",
            len(alone),
            f"stranger's name given in {false_rate(alone):.0f} % of runs",
        ],
    ]
    return markdown_table(["references", "runs", "result"], rows)


def run() -> str:
    return (
        f"Machine: {machine_load()} (shared with other work).\n\n"
        "### DER (pyannote.metrics, overlap scored), count estimated, before and after\n\n"
        f"{der_tables()}\n\n"
        "### How the defaults were chosen (dev clips only)\n\n"
        f"{dev_grid_tables()}\n\n"
        "### Known speaker references (GE2E, calibrated threshold), pyannote sample\n\n"
        f"{known_speakers_table()}\n\n"
        "### Cost on joined real recordings (one process per row)\n\n"
        f"{cost_table()}"
    )


if __name__ == "__main__":
    print(json.dumps(measure(float(sys.argv[1]), int(sys.argv[2]))))
