"""``diarize_with_models``: the diarization pipeline with its models leased from the manager.

One piece serves every caller that diarizes a file (the diarization endpoint, transcription
with ``diarize=true``), so the budget check, the enrolled-speaker lookup and the model leases
are written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np

from tympan.audio import Audio
from tympan.budgets import check_budget
from tympan.models.manager import ModelManager
from tympan.store.db import Database
from tympan.tasks.adaptation.dataset import read_manifest
from tympan.tasks.diarization.overlap import OVERLAP_MODEL_ID, OverlapModel, is_trained
from tympan.tasks.diarization.overlap_training import (
    OverlapTrainOptions,
    Progress,
    noise_recordings,
    speech_clips,
    train_overlap_model,
)
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

__all__ = [
    "ReplicaEncoder",
    "diarize_with_models",
    "train_overlap_from_folder",
    "with_known_speakers",
]


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
    and the ``known`` speakers of this request ((name, reference clip) pairs) always.
    Overlapped speech gets two speakers when ``options.overlap`` and the speaker-count model
    has been trained (it runs in this process, beside Silero)."""
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
    counting = options.overlap and is_trained(manager.settings.models_dir)

    replica = None
    if manager.served_remotely(model_id, SPEAKER_TASK):
        replica = await ReplicaEncoder.connect(manager, model_id)

    def run() -> DiarizationResult:
        with ExitStack() as leases:
            vad = leases.enter_context(manager.use(SILERO_MODEL_ID)).handle
            if replica is None:
                encoder = leases.enter_context(manager.use(model_id, task=SPEAKER_TASK)).handle
            else:
                encoder = replica
            counter = _current_counter(manager, leases) if counting else None
            voiceprints = with_known_speakers(index, encoder, model_id, known)
            threshold = default_threshold(model_id)
            return diarize(audio, vad, encoder, model_id, options, voiceprints, threshold, counter)

    return await manager.run(run)


def _current_counter(manager: ModelManager, leases: ExitStack) -> OverlapModel:
    """The speaker-count model, reloaded first if a newer one was trained since it loaded
    (unless another request still holds the old one: then the next request reloads it)."""
    with manager.use(OVERLAP_MODEL_ID) as probe:
        stale = probe.handle.stale(manager.settings.models_dir)
    if stale:
        manager.unload(OVERLAP_MODEL_ID)
    return leases.enter_context(manager.use(OVERLAP_MODEL_ID)).handle


def train_overlap_from_folder(
    manager: ModelManager,
    dataset: Path,
    noises: Path | None,
    options: OverlapTrainOptions,
    progress: Progress,
) -> dict:
    """Train the speaker-count model from a dataset folder (``manifest.csv``/``.jsonl`` with
    ``audio`` and ``speaker``) and optional noise folder, save it into the data dir (the
    next diarization uses it) and return its report. Reading the clips is the first tenth of
    the progress."""
    options.validate()
    utterances = read_manifest(dataset, ("audio", "speaker"))
    pairs = [(str(u.speaker), u.audio) for u in utterances]
    with manager.use(SILERO_MODEL_ID) as vad:
        clips = speech_clips(pairs, vad.handle, lambda done, note: progress(0.1 * done, note))
    model = train_overlap_model(
        clips,
        noise_recordings(noises),
        options,
        lambda done, note: progress(0.1 + 0.9 * done, note),
    )
    model.save(manager.settings.models_dir)
    manager.unload(OVERLAP_MODEL_ID)
    return model.meta


class ReplicaEncoder(SpeakerEncoder):
    """A speaker encoder whose batches run on the model's replicas (Ray Serve), called from
    the pool thread that diarizes: each block of windows is one call to a replica, so the
    API process never loads the model."""

    def __init__(
        self, manager: ModelManager, model_id: str, loop: asyncio.AbstractEventLoop, dim: int
    ) -> None:
        self.manager = manager
        self.model_id = model_id
        self.loop = loop
        self.dim = dim

    @classmethod
    async def connect(cls, manager: ModelManager, model_id: str) -> ReplicaEncoder:
        """The encoder of ``model_id``'s replicas (asks one for its embedding size)."""
        dim = await manager.infer(model_id, lambda encoder: encoder.dim, task=SPEAKER_TASK)
        return cls(manager, model_id, asyncio.get_running_loop(), dim)

    def _embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        clips = list(clips)
        call = self.manager.infer(
            self.model_id, lambda encoder: encoder.embed_clips(clips), task=SPEAKER_TASK
        )
        return asyncio.run_coroutine_threadsafe(call, self.loop).result()
