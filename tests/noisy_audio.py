"""Real speech mixed with a real noise recording at a set SNR (test material, read in place)."""

from __future__ import annotations

import numpy as np

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import decode_audio
from tympan.tasks.enhancement.snr import mix_at_snr

__all__ = ["SPEECH", "noisy_speech"]

SPEECH = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"


def noisy_speech(snr_db: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mixture, clean reference) of LJ001-0002 and the first test-split noise at ``snr_db``."""
    row = next(r for r in read_manifest("noise") if r["split"] == "test")
    noise = decode_audio(EVAL_DIR / "noise" / row["audio"]).samples
    speech = decode_audio(SPEECH).samples
    return mix_at_snr(speech, noise, snr_db, np.random.default_rng(seed))
