"""The blind SNR estimate and the mixing used to measure enhancement."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tests.noisy_audio import noisy_speech
from tympan.audio import Audio, decode_audio
from tympan.tasks.enhancement.snr import (
    MAX_SNR_DB,
    estimate_snr_db,
    mix_at_snr,
    si_sdr,
)


def test_mixing_hits_the_asked_snr_and_stays_under_full_scale() -> None:
    rng = np.random.default_rng(1)
    speech = rng.standard_normal(16_000).astype(np.float32) * 0.5
    noise = rng.standard_normal(4_000).astype(np.float32)  # shorter: tiled
    mixture, reference = mix_at_snr(speech, noise, 5.0, rng)
    residual = mixture.astype(np.float64) - reference
    snr = 10 * np.log10(np.mean(reference.astype(np.float64) ** 2) / np.mean(residual**2))
    assert abs(snr - 5.0) < 0.01 and np.max(np.abs(mixture)) <= 0.95 + 1e-6


def test_estimate_falls_as_noise_rises_on_real_recordings() -> None:
    estimates = [estimate_snr_db(Audio.from_array(noisy_speech(snr)[0])) for snr in (20, 10, 0)]
    assert estimates[0] > estimates[1] > estimates[2]
    assert estimate_snr_db(Audio.from_array(np.zeros(16_000, np.float32))) == MAX_SNR_DB
    assert estimate_snr_db(Audio.from_array(noisy_speech(20)[0][:800])) == MAX_SNR_DB  # 50 ms


@pytest.mark.parametrize("snr", [0.0, 5.0, 10.0])
def test_estimate_reads_the_mixing_snr_in_db(snr: float) -> None:
    """Eight LJSpeech sentences, each in another test noise: the median estimate is within
    2 dB of the SNR they were mixed at (WADA reads dB, not a scale of its own)."""
    noises = [
        decode_audio(EVAL_DIR / "noise" / row["audio"]).samples
        for row in read_manifest("noise")
        if row["split"] == "test"
    ]
    estimates = []
    for index, row in enumerate(read_manifest("asr_ljspeech")[:8]):
        speech = decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples
        noise = noises[index % len(noises)]
        mixture = mix_at_snr(speech, noise, snr, np.random.default_rng(index))[0]
        estimates.append(estimate_snr_db(Audio.from_array(mixture)))
    assert abs(float(np.median(estimates)) - snr) < 2.0


def test_si_sdr_is_scale_invariant_and_falls_with_noise() -> None:
    noisy, clean = noisy_speech(0.0)
    assert si_sdr(clean, 3 * clean) > 100
    assert abs(si_sdr(clean, noisy) - si_sdr(clean, 0.5 * noisy)) < 1e-6
    assert -3 < si_sdr(clean, noisy) < 3  # 0 dB SNR
