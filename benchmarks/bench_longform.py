"""Long-form ASR: Tympan against every way of calling faster-whisper directly, one run.

The recording is ``longform/lj001.opus``: a 20.7 min audiobook chapter read in order (real,
continuous, not one paragraph repeated), with its reference text. Three paths, the same
tiny.en CTranslate2 weights, int8, the same threads, beam 5:

- Tympan's API (in-process client, the whole request: decode, VAD, chunking, batched decode),
  as ``json`` (text only, what OpenAI's clients ask for) and as ``verbose_json`` (segments);
- faster-whisper's sequential ``WhisperModel.transcribe()`` (its defaults);
- faster-whisper's ``BatchedInferencePipeline.transcribe(batch_size=8)`` (its defaults).

Runs alternate (A, B, C, A, B, C, ...) so load on the shared machine hits each path alike;
RTFx comes from the fastest of ``REPEATS`` runs. ``TYMPAN_BENCH_MINUTES`` cuts the chapter at
the last clip that ends before that many minutes (for quick iterations).
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import tempfile
from pathlib import Path

import jiwer
import numpy as np
import soundfile
from faster_whisper import BatchedInferencePipeline, WhisperModel
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import EVAL_DIR, alternated, machine_load, markdown_table, ratio
from tympan.audio.decode import decode_audio
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.asr.models import _tiny_en_path

THREADS = os.cpu_count() or 1
REPEATS = int(os.environ.get("TYMPAN_BENCH_REPEATS", "3"))
BATCH = 8
LONGFORM = EVAL_DIR / "longform"
_normalize = EnglishTextNormalizer()


def chapter(minutes: float | None) -> tuple[np.ndarray, str]:
    """The chapter's samples (16 kHz mono) and reference, cut after ``minutes`` if given.

    ``segments.csv`` also lists a second chapter (LJ002) whose audio is not in the folder.
    """
    samples = decode_audio(LONGFORM / "lj001.opus").samples
    with (LONGFORM / "segments.csv").open(newline="") as handle:
        clips = [row for row in csv.DictReader(handle) if row["longform_file"] == "LJ001.flac"]
    if minutes is not None:
        clips = [clip for clip in clips if float(clip["end_s"]) <= minutes * 60]
        samples = samples[: round((float(clips[-1]["end_s"]) + 0.25) * 16_000)]
    return samples, " ".join(clip["text"] for clip in clips)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate in percent after Whisper's English normaliser."""
    return 100 * jiwer.wer(_normalize(reference), _normalize(hypothesis) or "<empty>")


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _joined(segments: object) -> str:
    return "".join(segment.text for segment in segments).strip()  # type: ignore[attr-defined]


def run() -> str:
    minutes_env = os.environ.get("TYMPAN_BENCH_MINUTES")
    samples, reference = chapter(float(minutes_env) if minutes_env else None)
    seconds = samples.size / 16_000
    upload = _wav(samples)
    direct = WhisperModel(
        str(_tiny_en_path()), device="cpu", compute_type="int8", cpu_threads=THREADS
    )
    batched = BatchedInferencePipeline(direct)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir), cpu_threads=THREADS)  # type: ignore[call-arg]
        with Client.in_process(settings) as client:
            runs = {
                "Tympan API, json (text only, OpenAI's default)": lambda: client.post_audio(
                    "/v1/audio/transcriptions", upload, {"response_format": "json"}
                ).json()["text"],
                "Tympan SDK, verbose_json (segments)": lambda: client.transcribe(upload).text,
                f"faster-whisper BatchedInferencePipeline (batch {BATCH})": lambda: _joined(
                    batched.transcribe(samples, beam_size=5, batch_size=BATCH)[0]
                ),
                "faster-whisper transcribe() (sequential)": lambda: _joined(
                    direct.transcribe(samples, beam_size=5)[0]
                ),
            }
            client.transcribe(_wav(samples[: 30 * 16_000]))  # models loaded, caches warm
            _joined(batched.transcribe(samples[: 30 * 16_000], beam_size=5, batch_size=BATCH)[0])
            timings = alternated(runs, REPEATS)
    *ours, pipeline, sequential = timings.values()
    rows = [
        [
            name,
            min(m.wall),
            statistics.median(m.wall),
            seconds / min(m.wall),
            min(m.cpu),
            wer(reference, m.text),
        ]
        for name, m in timings.items()
    ]
    headers = ["path", "min s", "median s", "RTFx (min)", "min CPU s", "WER %"]
    best_wer = min(wer(reference, pipeline.text), wer(reference, sequential.text))
    goals = [
        [
            name,
            ratio(min(pipeline.wall), min(m.wall)),
            ratio(min(pipeline.cpu), min(m.cpu)),
            ratio(min(sequential.wall), min(m.wall)),
            ratio(min(sequential.cpu), min(m.cpu)),
            wer(reference, m.text) - best_wer,
        ]
        for name, m in zip(timings, ours, strict=False)
    ]
    goal_headers = [
        "Tympan path",
        "RTFx / batched (goal >= 1.3)",
        "CPU / batched",
        "RTFx / sequential (goal >= 2.5)",
        "CPU / sequential",
        "WER vs better (goal <= +0.3)",
    ]
    return (
        f"{seconds / 60:.1f} min of `longform/lj001.opus`, tiny.en int8, beam 5, {THREADS} "
        f"threads, min of {REPEATS} alternated runs ({machine_load()} at the end).\n\n"
        f"{markdown_table(headers, rows)}\n\n{markdown_table(goal_headers, goals)}"
    )
