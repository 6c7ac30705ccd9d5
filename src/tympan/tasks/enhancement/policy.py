"""``noise_reduction``: which enhancer, if any, runs on a request's audio before its task.

The field takes OpenAI's names (``near_field``, ``far_field``), ``none``, ``auto`` or an
enhancement model id. ``auto`` is task-aware: each task belongs to a family, and each family
has the rule its own measurement chose on the development noises (the test noises only
report it; docs/enhancement.md has the tables):

- ``asr`` (transcription, translation, language, live): DeepFilterNet3 under -2 dB, a
  dev-noise choice by 10 words in 1,206 at 0 dB that never fired on the test noises;
  Whisper's WER rose with every enhancer applied to all audio.
- ``speakers`` (embed, enroll, verify, identify): RNNoise under 16 dB (EER at 5 dB
  4.1 % against 11.5 % on the dev noises; 5.7 % against 9.0 % on the test noises).
- ``diarization`` and ``vad``: RNNoise under 16 dB (dev F1 +9 to +12 points and DER lower at
  5 and 10 dB, clean untouched; the dev choice was 15 dB, 16 was set beforehand from the
  previous estimate's 22 dB and tied on dev).
- ``classifier`` (predict, detect, features): never; not measured, so ``auto`` leaves it.

A rule enhances only audio whose blind SNR estimate (``estimate_snr_db``) is under its
threshold: Whisper and the other models were trained on noisy audio, so enhancing clean or
mildly noisy speech makes their results worse, not better.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tympan.audio import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement.snr import estimate_snr_db

__all__ = ["NAMED_CHOICES", "TASK_FAMILIES", "AutoRule", "NoiseReductionPolicy"]

NAMED_CHOICES = ("none", "auto", "near_field", "far_field")

TASK_FAMILIES: Mapping[str, str] = {
    "transcription": "asr",
    "translation": "asr",
    "language": "asr",
    "live": "asr",
    "speaker_embed": "speakers",
    "speaker_enroll": "speakers",
    "speaker_verify": "speakers",
    "speaker_identify": "speakers",
    "diarization": "diarization",
    "vad": "vad",
    "classifier_predict": "classifier",
    "classifier_detect": "classifier",
    "features": "classifier",
}
"""The task names callers pass, and the family whose ``auto`` rule each one follows."""


@dataclass(frozen=True, slots=True)
class AutoRule:
    """What ``auto`` does for one task family: ``model`` on audio whose estimated SNR is
    under ``snr_db``; ``model=None`` never enhances."""

    model: str | None
    snr_db: float = float("-inf")

    def model_for(self, audio: Audio) -> str | None:
        """The enhancer this rule runs on ``audio``, or ``None`` to leave it."""
        if self.model is None or estimate_snr_db(audio) >= self.snr_db:
            return None
        return self.model


@dataclass(frozen=True, slots=True)
class NoiseReductionPolicy:
    """The enhancer behind each named choice, and ``auto``'s rule for each task family."""

    near_field_model: str
    far_field_model: str
    auto: Mapping[str, AutoRule]

    def model_for(self, choice: str, audio: Audio, enhancers: list[str], task: str) -> str | None:
        """The enhancement model to run on ``audio`` before ``task`` (a ``TASK_FAMILIES``
        name) for ``choice``; ``None`` to leave it.

        ``enhancers`` are the ids of the registered enhancement models; any other value is
        an ``InvalidParameter`` (400) that lists the accepted ones.
        """
        if choice == "none":
            return None
        if choice == "auto":
            return self.auto[TASK_FAMILIES[task]].model_for(audio)
        if choice == "near_field":
            return self.near_field_model
        if choice == "far_field":
            return self.far_field_model
        if choice in enhancers:
            return choice
        accepted = ", ".join([*NAMED_CHOICES, *enhancers])
        raise InvalidParameter(
            f"noise_reduction {choice!r} is not one of: {accepted}.", param="noise_reduction"
        )
