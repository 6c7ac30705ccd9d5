"""Augmentations: real training noise only, speed within range, masks and attacks bounded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import decode_audio
from tympan.errors import InvalidParameter
from tympan.tasks.adaptation import augment

SPEECH = decode_audio(EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac").samples


def test_training_noises_leave_the_test_split_out() -> None:
    noises = augment.load_training_noises(EVAL_DIR / "noise")
    rows = read_manifest("noise")
    assert len(noises) == sum(r["split"] != "test" for r in rows) > 0


def test_a_noise_folder_without_manifest_is_refused(tmp_path) -> None:
    with pytest.raises(InvalidParameter, match=r"manifest\.csv"):
        augment.load_training_noises(tmp_path)


def test_noise_is_mixed_within_the_snr_range() -> None:
    noises = augment.load_training_noises(EVAL_DIR / "noise")
    mixed = augment.with_noise(SPEECH, noises, np.random.default_rng(0))
    assert mixed.shape == SPEECH.shape and not np.allclose(mixed, SPEECH)
    scale = np.dot(mixed, SPEECH) / np.dot(SPEECH, SPEECH)  # the mixture is rescaled together
    residual = mixed - scale * SPEECH
    snr = 10 * np.log10(np.sum((scale * SPEECH) ** 2) / np.sum(residual**2))
    assert augment.SNR_RANGE_DB[0] - 1 <= snr <= augment.SNR_RANGE_DB[1] + 1


def test_speed_changes_the_length_within_ten_percent() -> None:
    for seed in range(5):
        faster = augment.change_speed(SPEECH, np.random.default_rng(seed))
        assert 0.9 * len(SPEECH) - 2 <= len(faster) <= len(SPEECH) / 0.9 + 2


def test_spec_augment_masks_only_inside_each_clip() -> None:
    features = torch.ones(2, 80, 3000)
    frames = torch.tensor([300, 1200])
    masked = augment.spec_augment(features, frames, torch.Generator().manual_seed(0))
    assert torch.equal(features, torch.ones(2, 80, 3000))  # a copy
    assert (masked == 0).any()
    fully_masked_frames = (masked == 0).all(dim=1)
    assert not fully_masked_frames[0, 300:].any() and not fully_masked_frames[1, 1200:].any()


@pytest.mark.parametrize("steps", [1, 3])
def test_adversarial_input_raises_the_loss_within_epsilon(steps: int) -> None:
    torch.manual_seed(0)
    features = torch.randn(2, 4, 10)
    frames = torch.tensor([6, 10])
    weights = torch.randn(4, 10)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        return ((x * weights).sum(dim=(1, 2)) ** 2).mean()

    attacked = augment.adversarial_features(features, frames, loss_of, epsilon=0.1, steps=steps)
    assert loss_of(attacked) > loss_of(features)
    assert (attacked - features).abs().max() <= 0.1 + 1e-6
    assert torch.equal(attacked[0, :, 6:], features[0, :, 6:])  # padding never moves
