"""``noise_reduction``: which enhancer, if any, runs on a request's audio before its task.

The field takes OpenAI's names (``near_field``, ``far_field``), ``none``, ``auto`` or an
enhancement model id. ``auto`` enhances only recordings whose estimated SNR is under a
threshold; the threshold and the enhancer behind each name come from the measurements in
``benchmarks/bench_enhancement.py`` (Whisper is trained on noisy audio, so enhancing clean
or mildly noisy speech makes its transcripts worse, not better).
"""

from __future__ import annotations

from dataclasses import dataclass

from tympan.audio import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement.snr import estimate_snr_db

__all__ = ["NAMED_CHOICES", "NoiseReductionPolicy"]

NAMED_CHOICES = ("none", "auto", "near_field", "far_field")


@dataclass(frozen=True, slots=True)
class NoiseReductionPolicy:
    """The enhancer behind each named choice and the SNR under which ``auto`` enhances."""

    auto_model: str
    near_field_model: str
    far_field_model: str
    auto_snr_db: float

    def model_for(self, choice: str, audio: Audio, enhancers: list[str]) -> str | None:
        """The enhancement model to run on ``audio`` for ``choice``; ``None`` to leave it.

        ``enhancers`` are the ids of the registered enhancement models; any other value is
        an ``InvalidParameter`` (400) that lists the accepted ones.
        """
        if choice == "none":
            return None
        if choice == "auto":
            return self.auto_model if estimate_snr_db(audio) < self.auto_snr_db else None
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
