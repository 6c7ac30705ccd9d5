"""Speaker diarization: VAD, windowed speaker embeddings, clustering, enrolled names.

``diarize`` runs the pipeline (``pipeline.py``), ``diarize_with_models`` with its models leased
(``service.py``); ``to_rttm`` writes its turns as RTTM;
``assign_speakers`` labels timed transcript segments or words by maximum overlap with the turns.
A speaker-count model trained into the data dir (``overlap.py``, ``overlap_training.py``)
gives overlapped speech its second speaker.
"""

from __future__ import annotations

from functools import partial

from tympan.config import Settings
from tympan.models.spec import ModelSpec, path_size
from tympan.tasks.diarization.attribution import (
    assign_speakers,
    label_pieces,
    label_transcription,
    speaker_at,
    split_at_speaker_changes,
)
from tympan.tasks.diarization.clustering import (
    MAX_SPEAKERS,
    ClusteringMethod,
    SpeakerCount,
    cluster_embeddings,
)
from tympan.tasks.diarization.overlap import (
    OVERLAP_MODEL_ID,
    OverlapModel,
    is_trained,
    overlap_model_dir,
)
from tympan.tasks.diarization.pipeline import (
    DiarizationOptions,
    DiarizationResult,
    DiarizedSpeaker,
    SpeakerTurn,
    diarize,
)
from tympan.tasks.diarization.rttm import to_rttm
from tympan.tasks.diarization.service import (
    diarize_with_models,
    train_overlap_from_folder,
    with_known_speakers,
)

__all__ = [
    "MAX_SPEAKERS",
    "OVERLAP_MODEL_ID",
    "ClusteringMethod",
    "DiarizationOptions",
    "DiarizationResult",
    "DiarizedSpeaker",
    "SpeakerCount",
    "SpeakerTurn",
    "assign_speakers",
    "cluster_embeddings",
    "diarize",
    "diarize_with_models",
    "label_pieces",
    "label_transcription",
    "model_specs",
    "speaker_at",
    "split_at_speaker_changes",
    "to_rttm",
    "train_overlap_from_folder",
    "with_known_speakers",
]


def model_specs(settings: Settings) -> list[ModelSpec]:
    """The speaker-count model for overlapped speech, trained into the data dir on request."""
    state = "trained" if is_trained(settings.models_dir) else "not trained yet"
    return [
        ModelSpec(
            id=OVERLAP_MODEL_ID,
            task="overlap",
            backend="pytorch",
            source=f"trained by POST /v1/audio/diarization/overlap/train ({state})",
            load=partial(OverlapModel.load, settings.models_dir),
            description="speakers per 10 ms frame (0, 1, 2+): overlapped speech in diarization",
            size_bytes=path_size(overlap_model_dir(settings.models_dir)),
        )
    ]
