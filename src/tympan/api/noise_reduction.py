"""``noise_reduction``: the form field of every file endpoint, applied right after decoding.

The value (``none`` | ``auto`` | ``near_field`` | ``far_field`` | an enhancement model id,
default ``TYMPAN_NOISE_REDUCTION``) is checked before the upload is decoded; the chosen
enhancer then runs once on the decoded ``Audio``, in the pool, with its model leased. Tasks
never see the difference: they get ``Audio`` of the same length and timing.
"""

from __future__ import annotations

from tympan.api.services import Services
from tympan.audio import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement import NAMED_CHOICES, enhance_audio, noise_reduction_policy

__all__ = ["NoiseReducer"]


class NoiseReducer:
    """One request's ``noise_reduction`` choice, ready to apply to each of its recordings."""

    def __init__(self, services: Services, choice: str) -> None:
        self._services = services
        self._choice = choice
        self._enhancers = [spec.id for spec in services.registry.list("enhancement")]
        if choice not in NAMED_CHOICES and choice not in self._enhancers:
            accepted = ", ".join([*NAMED_CHOICES, *self._enhancers])
            raise InvalidParameter(
                f"noise_reduction {choice!r} is not one of: {accepted} "
                "(default TYMPAN_NOISE_REDUCTION).",
                param="noise_reduction",
            )

    async def __call__(self, audio: Audio) -> Audio:
        """``audio`` enhanced by the chosen model, or unchanged when the choice says so."""
        policy = noise_reduction_policy(self._services.settings)
        model_id = policy.model_for(self._choice, audio, self._enhancers)
        if model_id is None:
            return audio
        return await self._services.manager.infer(
            model_id, enhance_audio, audio, task="enhancement"
        )
