"""``reduce_noise``: a request's audio through the enhancer its ``noise_reduction`` names.

The one place every file endpoint's ``noise_reduction`` field is applied (at the audio
boundary, right after decoding), so no task has a second copy of this logic.
"""

from __future__ import annotations

from tympan.audio import Audio
from tympan.models.manager import ModelManager
from tympan.tasks.enhancement.policy import NoiseReductionPolicy
from tympan.tasks.enhancement.stream import enhance_audio

__all__ = ["ENHANCEMENT_TASK", "reduce_noise"]

ENHANCEMENT_TASK = "enhancement"


async def reduce_noise(
    manager: ModelManager, policy: NoiseReductionPolicy, audio: Audio, choice: str, task: str
) -> Audio:
    """``audio`` enhanced as ``choice`` asks (``none``, ``auto``, ``near_field``,
    ``far_field`` or an enhancement model id) before ``task`` (whose family ``auto``
    follows), in the pool with the enhancer leased; the same ``audio`` when the choice is to
    leave it. ``InvalidParameter`` (400) for an unknown choice."""
    enhancers = [spec.id for spec in manager.registry.list(ENHANCEMENT_TASK)]
    model_id = policy.model_for(choice, audio, enhancers, task)
    if model_id is None:
        return audio
    return await manager.infer(model_id, enhance_audio, audio, task=ENHANCEMENT_TASK)
