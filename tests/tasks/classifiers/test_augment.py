"""Augmented copies: the ``basic`` and ``voices`` recipes on real speech, and real noise."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soxr
from pydantic import ValidationError
from scipy.signal import welch

from tests.conftest import EVAL_DIR, make_settings
from tympan.audio import Audio, decode_audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.classifiers.augment import (
    _MAX_SHIFT_SECONDS,
    Augmentation,
    _coloured_noise,
    _reverberate,
    _shift_voice,
    background_noises,
    perturb,
)

CLIP = EVAL_DIR / "fsdd" / "audio" / "3_theo_0.flac"
NOISES = EVAL_DIR / "noise" / "audio"


def _median_f0(samples: np.ndarray) -> float:
    f0, voiced, _ = librosa.pyin(samples, fmin=60, fmax=400, sr=SAMPLE_RATE, frame_length=1024)
    return float(np.nanmedian(f0[voiced]))


def test_voice_shift_moves_pitch_by_the_drawn_semitones_and_length_by_the_formant() -> None:
    speech = decode_audio(CLIP).samples
    draws = np.random.default_rng(3)
    formant, semitones = draws.uniform(0.85, 1.15), draws.uniform(-3, 3)
    shifted = _shift_voice(speech, np.random.default_rng(3))
    moved = 12 * np.log2(_median_f0(shifted) / _median_f0(speech))
    assert abs(moved - semitones) < 0.6, (moved, semitones)
    assert abs(shifted.size / speech.size - 1 / formant) < 0.01


def test_a_room_adds_a_decaying_tail_at_the_same_level() -> None:
    burst = np.zeros(SAMPLE_RATE, np.float32)
    burst[:1600] = np.random.default_rng(0).standard_normal(1600) * 0.1
    wet = _reverberate(burst, np.random.default_rng(1))
    assert wet.size == burst.size
    assert np.isclose(np.sqrt(np.mean(wet**2)), np.sqrt(np.mean(burst**2)), rtol=1e-3)
    tail = wet[1600:4800]  # 0.2 s after the burst ended, the dry signal is silent
    assert np.sqrt(np.mean(tail**2)) > 0.05 * np.sqrt(np.mean(wet[:1600] ** 2))


def test_synthetic_noise_falls_off_by_the_drawn_slope() -> None:
    slope = np.random.default_rng(4).uniform(0.0, 1.0)
    noise = _coloured_noise(SAMPLE_RATE * 8, np.random.default_rng(4))
    assert noise.shape == (SAMPLE_RATE * 8,) and np.isclose(noise.std(), 1.0)
    frequencies, power = welch(noise, SAMPLE_RATE, nperseg=4096)
    band = (frequencies >= 100) & (frequencies <= 6000)
    fitted = np.polyfit(np.log(frequencies[band]), np.log(power[band]), 1)[0]
    assert slope > 0.3 and abs(fitted + slope) < 0.1, (fitted, slope)


def test_the_time_shift_adds_silence_and_cuts_nothing_of_the_clip() -> None:
    audio = decode_audio(CLIP)
    draws = np.random.default_rng(5)
    speed = draws.uniform(0.9, 1.1)
    shift = int(draws.uniform(0.0, _MAX_SHIFT_SECONDS) * SAMPLE_RATE)
    copy = perturb(audio, np.random.default_rng(5), Augmentation())
    resampled = soxr.resample(audio.samples, SAMPLE_RATE, int(SAMPLE_RATE / speed), quality="LQ")
    assert shift > 400 and copy.samples.size == resampled.size + shift


def test_recipes_repeat_with_a_seed_and_differ_from_each_other() -> None:
    audio = decode_audio(CLIP)
    basic = perturb(audio, np.random.default_rng(5), Augmentation())
    again = perturb(audio, np.random.default_rng(5), Augmentation())
    voices = perturb(audio, np.random.default_rng(5), Augmentation("voices"))
    assert np.array_equal(basic.samples, again.samples)
    assert basic.samples.size != voices.samples.size or not np.allclose(
        basic.samples, voices.samples
    )
    for copy in (basic, voices):
        assert isinstance(copy, Audio) and copy.sample_rate == SAMPLE_RATE
        assert np.isfinite(copy.samples).all() and np.abs(copy.samples).max() <= 1.0


def test_real_noise_replaces_synthetic_noise_and_keys_the_cache() -> None:
    audio = decode_audio(CLIP)
    noise = decode_audio(NOISES / "speechcommands__running_tap.opus").samples
    noisy = perturb(audio, np.random.default_rng(7), Augmentation("basic", [noise]))
    synthetic = perturb(audio, np.random.default_rng(7), Augmentation("basic"))
    assert noisy.samples.size == synthetic.samples.size
    assert not np.allclose(noisy.samples, synthetic.samples)
    # Every recipe and noise set has its own key, and none is an earlier recipe's ("" was
    # ``basic`` with white noise, ":voices:noisewhite" ``voices``).
    keys = {
        Augmentation().key,
        Augmentation("voices").key,
        Augmentation("basic", [noise]).key,
        Augmentation("voices", [noise]).key,
        Augmentation("voices", [noise[:1000]]).key,
    }
    assert len(keys) == 5 and not keys & {"", ":voices:noisewhite"}


def test_background_noises_reads_the_folder_and_the_setting_must_be_one(tmp_path) -> None:
    assert background_noises("", 60.0) == []
    for name in ("speechcommands__running_tap.opus", "blanket__boat.opus"):
        (tmp_path / name).symlink_to(NOISES / name)
    (tmp_path / "notes.txt").write_text("not audio")
    noises = background_noises(str(tmp_path), 600.0)
    assert len(noises) == 2 and all(n.dtype == np.float32 and n.size > SAMPLE_RATE for n in noises)
    with pytest.raises(ValidationError, match="TYMPAN_CLASSIFIER_NOISE_DIR"):
        make_settings(tmp_path, classifier_noise_dir=str(tmp_path / "missing"))
