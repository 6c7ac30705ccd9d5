"""DeepFilterNet on a long recording: parts enhanced side by side match one pass."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import Audio, decode_audio
from tympan.tasks.enhancement import DeepFilterNet, enhance_audio
from tympan.tasks.enhancement.snr import mix_at_snr, si_sdr
from tympan.tasks.enhancement.stream import PART_SECONDS


@pytest.fixture(scope="module")
def long_noisy() -> tuple[np.ndarray, np.ndarray]:
    """(mixture, clean) of 45 s of consecutive LJSpeech sentences in real noise at 5 dB."""
    clips, seconds = [], 0.0
    for row in read_manifest("asr_ljspeech"):
        clips.append(decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples)
        seconds += clips[-1].shape[0] / 16_000
        if seconds >= 45:
            break
    noise_row = next(r for r in read_manifest("noise") if r["split"] == "test")
    noise = decode_audio(EVAL_DIR / "noise" / noise_row["audio"]).samples
    return mix_at_snr(np.concatenate(clips), noise, 5.0, np.random.default_rng(0))


def test_parallel_parts_enhance_as_well_as_one_pass(long_noisy) -> None:
    noisy, clean = long_noisy
    assert noisy.shape[0] >= 2 * PART_SECONDS * 16_000  # long enough for two parts
    two, one = DeepFilterNet(threads=2), DeepFilterNet(threads=1)
    try:
        parallel = enhance_audio(two, Audio.from_array(noisy)).samples
        single = enhance_audio(one, Audio.from_array(noisy)).samples
    finally:
        two.close()
        one.close()
    assert parallel.shape == noisy.shape == single.shape
    assert abs(si_sdr(clean, parallel) - si_sdr(clean, single)) < 0.3
    assert si_sdr(single, parallel) > 20.0  # the seam leaves no audible trace
    assert si_sdr(clean, parallel) > si_sdr(clean, noisy) + 3.0


def test_states_are_kept_ready_and_freed() -> None:
    model = DeepFilterNet(threads=2)
    sessions = [model.session(), model.session(), model.session()]  # one more than the spares
    for session in sessions:
        session.close()
    model.close()
    assert model._spares == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_spares_are_made_at_the_lowest_cpu_priority() -> None:
    """Taking a state starts the refill; it runs niced, the caller's priority is untouched."""
    model = DeepFilterNet(threads=1)
    try:
        model.session().close()
        refill = model._refill
        assert refill is not None and refill.native_id is not None
        deadline = time.monotonic() + 1.0
        while refill.is_alive() and time.monotonic() < deadline:
            if os.getpriority(os.PRIO_PROCESS, refill.native_id) == 19:
                break
            time.sleep(0.01)
        assert refill.is_alive(), "the refill ended before its priority could be read"
        assert os.getpriority(os.PRIO_PROCESS, refill.native_id) == 19
        assert os.getpriority(os.PRIO_PROCESS, 0) < 19
    finally:
        model.close()
