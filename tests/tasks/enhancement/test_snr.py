"""``estimate_snr_db`` ranks real noisy mixtures in the order of their true SNR."""

from __future__ import annotations

import numpy as np

from tests.noisy_speech import NOISE, mix_at_snr
from tympan.audio import Audio, decode_audio
from tympan.tasks.enhancement import estimate_snr_db
from tympan.tasks.enhancement.snr import MAX_SNR_DB


def test_estimate_falls_as_noise_rises(clean_speech: Audio) -> None:
    noise = decode_audio(NOISE).samples
    estimates = [
        estimate_snr_db(Audio.from_array(mix_at_snr(clean_speech.samples, noise, snr)))
        for snr in (20.0, 10.0, 5.0, 0.0)
    ]
    assert estimates == sorted(estimates, reverse=True)
    assert estimates[0] - estimates[-1] > 8.0


def test_silence_and_short_audio_read_as_clean() -> None:
    assert estimate_snr_db(Audio.from_array(np.zeros(16_000, np.float32))) == MAX_SNR_DB
    assert estimate_snr_db(Audio.from_array(np.zeros(100, np.float32))) == MAX_SNR_DB
    assert estimate_snr_db(Audio.from_array(np.zeros(0, np.float32))) == MAX_SNR_DB
