"""Speaker diarization: VAD, windowed speaker embeddings, clustering, enrolled names.

``diarize`` runs the pipeline (``pipeline.py``), ``diarize_with_models`` with its models leased
(``service.py``); ``to_rttm`` writes its turns as RTTM;
``assign_speakers`` labels timed transcript segments or words by maximum overlap with the turns.
"""

from __future__ import annotations

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
from tympan.tasks.diarization.pipeline import (
    DiarizationOptions,
    DiarizationResult,
    DiarizedSpeaker,
    SpeakerTurn,
    diarize,
)
from tympan.tasks.diarization.rttm import to_rttm
from tympan.tasks.diarization.service import diarize_with_models, with_known_speakers

__all__ = [
    "MAX_SPEAKERS",
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
    "speaker_at",
    "split_at_speaker_changes",
    "to_rttm",
    "with_known_speakers",
]
