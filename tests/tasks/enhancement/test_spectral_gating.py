"""Spectral gating: gentle enough that it does not lower SI-SDR on real noisy speech."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import EVAL_DIR
from tests.noisy_audio import noisy_speech
from tympan.audio import Audio, decode_audio
from tympan.tasks.enhancement import SpectralGating, enhance_audio
from tympan.tasks.enhancement.snr import si_sdr


@pytest.mark.parametrize("noise", ["blanket__train", "blanket__rain", "blanket__city"])
def test_gating_does_not_lower_si_sdr_at_5_db(noise: str) -> None:
    clean = decode_audio(EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac").slice(0, 4).samples
    noise_samples = np.resize(
        decode_audio(EVAL_DIR / "noise" / "audio" / f"{noise}.opus").samples, clean.shape[0]
    )
    gain = np.sqrt(np.mean(clean**2) / (np.mean(noise_samples**2) * 10**0.5))
    noisy = (clean + gain * noise_samples).astype(np.float32)
    out = enhance_audio(SpectralGating(), Audio.from_array(noisy)).samples
    assert si_sdr(clean, out) >= si_sdr(clean, noisy) - 0.2, noise


def test_full_gating_would_lower_it() -> None:
    """The reason for prop_decrease 0.8: the package's default 1.0 costs SI-SDR here."""
    noisy, clean = noisy_speech(5.0)
    full = enhance_audio(SpectralGating(prop_decrease=1.0), Audio.from_array(noisy)).samples
    gentle = enhance_audio(SpectralGating(), Audio.from_array(noisy)).samples
    assert si_sdr(clean, gentle) > si_sdr(clean, full)
