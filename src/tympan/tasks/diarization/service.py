"""``diarize_with_models``: the diarization pipeline with its models leased from the manager.

One piece serves every caller that diarizes a file (the diarization endpoint, transcription
with ``diarize=true``), so the budget check, the enrolled-speaker lookup and the model leases
are written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tympan.audio import Audio
from tympan.budgets import check_budget
from tympan.models.manager import ModelManager
from tympan.store.db import Database
from tympan.tasks.diarization.pipeline import DiarizationOptions, DiarizationResult, diarize
from tympan.tasks.speakers import (
    SPEAKER_TASK,
    SpeakerEncoder,
    VoiceprintIndex,
    default_threshold,
    embed_audio,
    enrolled_index,
    speaker_model_id,
)
from tympan.tasks.vad import SILERO_MODEL_ID

__all__ = ["diarize_with_models", "with_known_speakers"]


def with_known_speakers(
    enrolled: VoiceprintIndex | None,
    encoder: SpeakerEncoder,
    model: str,
    known: Sequence[tuple[str, Audio]],
) -> VoiceprintIndex | None:
    """``enrolled`` plus the voiceprints of a request's ``known`` (name, reference clip)
    speakers, embedded with ``encoder``; ``enrolled`` as it is when there are none."""
    if not known:
        return enrolled
    vectors = [embed_audio(encoder, model, clip).embedding for _, clip in known]
    base = enrolled or VoiceprintIndex([], [], np.zeros((0, 0), np.float32))
    return base.with_references([name for name, _ in known], np.asarray(vectors, np.float32))


async def diarize_with_models(
    manager: ModelManager,
    db: Database,
    audio: Audio,
    model: str | None,
    options: DiarizationOptions,
    namespace: str,
    known: Sequence[tuple[str, Audio]] = (),
) -> DiarizationResult:
    """Diarize ``audio`` with the VAD and speaker ``model`` (default if None) leased, in the
    manager's pool; enrolled speakers of ``namespace`` are named when ``options.identify``,
    and the ``known`` speakers of this request ((name, reference clip) pairs) always."""
    options.validate()
    check_budget(
        manager.settings,
        "max_diarization_seconds",
        audio.duration,
        "seconds of audio to diarize",
        param="file",
    )
    model_id = speaker_model_id(manager.registry, model)
    index = None
    if options.identify:
        index = await asyncio.to_thread(enrolled_index, db, model_id, None, namespace)
    if known:
        options = replace(options, identify=True)

    def run() -> DiarizationResult:
        with (
            manager.use(SILERO_MODEL_ID) as vad,
            manager.use(model_id, task=SPEAKER_TASK) as encoder,
        ):
            voiceprints = with_known_speakers(index, encoder.handle, model_id, known)
            threshold = default_threshold(model_id)
            return diarize(
                audio, vad.handle, encoder.handle, model_id, options, voiceprints, threshold
            )

    return await manager.run(run)
