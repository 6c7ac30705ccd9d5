"""Long audio: peak memory of features and VAD at 1, 10 and 60 minutes, against the library
called directly on the whole array (librosa's melspectrogram; Silero's sequence ONNX in one
``run``, as Tympan did before it scored in blocks).

Each measurement runs in its own process, on real speech (the 30 s diarization sample, a
conversation, repeated to length). Once the audio is in memory the kernel's peak-RSS mark is
reset (``/proc/self/clear_refs``), so ``extra`` = peak RSS during the computation minus RSS
before it: what the computation itself needed on top of its input.
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, ratio

MINUTES = (1, 10, 60)

_MEASURE = """
import json, sys, time
import numpy as np, psutil
from tympan.audio import Audio, decode_audio

def rss_mb(): return psutil.Process().memory_info().rss / 2**20
def peak_mb():
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    return int(status.split()[0]) / 1024
minutes, way = float(sys.argv[1]), sys.argv[2]
source = decode_audio(sys.argv[3])
repeats = int(np.ceil(minutes * 60 / source.duration))
samples = np.tile(source.samples, repeats)[: int(minutes * 60 * 16000)]
del source
audio = Audio.from_array(samples)
del samples
if way.startswith("silero"):
    from tympan.tasks.vad import SileroVad
    silero = SileroVad()
def compute(audio):
    if way == "features":
        from tympan.audio.features import extract_features
        out = extract_features(audio, "log_mel").values
    elif way == "features-librosa":
        import librosa
        mel = librosa.feature.melspectrogram(y=audio.samples, sr=16000, n_fft=400, hop_length=160,
                                             n_mels=64)
        out = librosa.power_to_db(mel).T
    elif way == "silero":
        out = silero.probabilities(audio)
    else:  # the whole recording as one sequence, one run
        frames = np.zeros((-(-audio.samples.size // 512)) * 512, np.float32)
        frames[: audio.samples.size] = audio.samples
        frames = frames.reshape(-1, 512)
        context = np.zeros((frames.shape[0], 64), np.float32)
        context[1:] = frames[:-1, -64:]
        rows = np.ascontiguousarray(np.concatenate([context, frames], axis=1))
        state = np.zeros((1, 1, 128), np.float32)
        out = silero.session.run(None, {"input": rows, "h": state, "c": state})[0]
    return out

compute(Audio(audio.samples[:16000], audio.sample_rate, audio.source))  # imports, caches
open("/proc/self/clear_refs", "w").write("5")  # the peak mark starts again from here
base = rss_mb()
started = time.perf_counter()
out = compute(audio)
seconds = time.perf_counter() - started
peak = peak_mb()
print(json.dumps({"base": base, "peak": peak, "seconds": seconds, "out_mb": out.nbytes / 2**20}))
"""


def _measure(minutes: float, way: str) -> dict[str, float]:
    audio = EVAL_DIR / "diarization" / "sample.wav"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(minutes), way, str(audio)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> str:
    pairs = [("features (log-mel)", "features", "features-librosa"),
             ("VAD (Silero)", "silero", "silero-whole")]  # fmt: skip
    rows = []
    for label, ours, direct in pairs:
        for minutes in MINUTES:
            mine, theirs = _measure(minutes, ours), _measure(minutes, direct)
            rows.append([
                label, minutes, round(mine["base"]), round(mine["peak"] - mine["base"]),
                round(theirs["peak"] - theirs["base"]), round(mine["out_mb"], 1),
                ratio(theirs["seconds"], mine["seconds"]),
            ])  # fmt: skip
    headers = ["task", "minutes", "RSS with audio MB", "extra MB (Tympan)",
               "extra MB (whole array)", "answer MB", "speed Tympan / whole"]  # fmt: skip
    return "\n\n".join(
        [
            "Peak memory on top of the decoded audio (16 kHz float32: 3.7 MB a minute), one "
            "process per cell, peak mark reset once the audio is in memory; the answer itself "
            f"(frames x dims) is part of `extra`. Measured with {machine_load()}; the speed "
            "column is indicative only.",
            markdown_table(headers, rows),
        ]
    )
