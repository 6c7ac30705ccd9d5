"""VAD: frame-level precision/recall/F1 of each method against the diarization references
(speech = union of the RTTM turns), RTFx per method, and Silero through Tympan against the
silero-vad package's own ONNX wrapper called directly, in the same run.
"""

from __future__ import annotations

import csv

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.detection import DetectionPrecisionRecallFMeasure

from benchmarks._harness import EVAL_DIR, markdown_table, ratio, time_call
from tympan.audio import Audio, decode_audio
from tympan.tasks.vad import SileroVad, VadOptions, detect_speech

METHODS = ("silero", "energy", "spectral", "fusion")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


def _recordings() -> list[tuple[str, Audio, Annotation]]:
    folder = EVAL_DIR / "diarization"
    with (folder / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    recordings = []
    for row in rows:
        reference = Annotation()
        for line in (folder / row["rttm"]).read_text().splitlines():
            fields = line.split()
            start, length = float(fields[3]), float(fields[4])
            reference[Segment(start, start + length)] = "speech"
        recordings.append((row["audio"], decode_audio(folder / row["audio"]), reference))
    return recordings


def _as_annotation(result) -> Annotation:
    hypothesis = Annotation()
    for segment in result.segments:
        hypothesis[Segment(segment.start, segment.end)] = "speech"
    return hypothesis


def _score(recordings, method: str, silero: SileroVad, options: VadOptions) -> tuple[float, ...]:
    metric = DetectionPrecisionRecallFMeasure()
    for _, audio, reference in recordings:
        result = detect_speech(audio, method, options, silero)  # type: ignore[arg-type]
        uem = Timeline([Segment(0, audio.duration)])
        metric(reference, _as_annotation(result), uem=uem)
    return metric.compute_metrics()


def _silero_direct(audio: Audio):  # type: ignore[no-untyped-def]
    import silero_vad
    import torch

    model = silero_vad.load_silero_vad(onnx=True)
    samples = torch.from_numpy(audio.samples)
    return lambda: silero_vad.get_speech_timestamps(samples, model, return_seconds=True)


def run() -> str:
    recordings = _recordings()
    silero = SileroVad()
    quality = []
    for method in METHODS:
        precision, recall, f1 = _score(recordings, method, silero, VadOptions())
        quality.append([method, precision, recall, f1])
    sweep = []
    for method in ("silero", "fusion"):
        for threshold in THRESHOLDS:
            _, _, f1 = _score(recordings, method, silero, VadOptions(threshold=threshold))
            sweep.append([method, threshold, f1])

    long_audio = Audio.from_array(np.concatenate([audio.samples for _, audio, _ in recordings] * 5))
    speed = []
    for method in METHODS:
        timing = time_call(lambda m=method: detect_speech(long_audio, m, silero=silero), repeats=5)
        speed.append([method, timing.rtfx(long_audio.duration), timing.median])
    ours = time_call(lambda: detect_speech(long_audio, "silero", silero=silero), repeats=5)
    direct = time_call(_silero_direct(long_audio), repeats=5)
    comparison = [
        ["tympan silero (sequence ONNX, one run)", ours.rtfx(long_audio.duration), ours.median],
        ["silero-vad package (OnnxWrapper loop)", direct.rtfx(long_audio.duration), direct.median],
        ["speed-up (min / median)", ratio(direct.min, ours.min), ratio(direct.median, ours.median)],
    ]
    return "\n\n".join(
        [
            "Frame-level detection on the 4 diarization recordings (2 min; speech = union of "
            "RTTM turns; pyannote.metrics DetectionPrecisionRecallFMeasure, no collar), "
            "default options:",
            markdown_table(["method", "precision", "recall", "F1"], quality),
            "Threshold sweep (F1):",
            markdown_table(["method", "threshold", "F1"], sweep),
            f"Speed on {long_audio.duration:.0f} s of real audio (5 repeats):",
            markdown_table(["method", "RTFx (best)", "median s"], speed),
            markdown_table(["Silero", "RTFx / ratio", "median s / ratio"], comparison),
        ]
    )
