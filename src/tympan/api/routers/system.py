"""Health, the model list (OpenAI's ``/v1/models`` shape plus Tympan's fields), and loading or
unloading a model by hand (models otherwise load on first use and unload when idle)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tympan import __version__
from tympan.api.deps import NamespaceDep, ServicesDep, model_visible
from tympan.api.services import Services
from tympan.errors import Conflict, InvalidParameter, ModelNotFound
from tympan.models.spec import ModelSpec
from tympan.tasks.asr.drift import AsrDriftReport, asr_drift_report
from tympan.tasks.asr.pipeline import transcriber_for
from tympan.tasks.asr.routing import AUTO

__all__ = ["ModelCard", "ModelList", "router"]

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    models_loaded: int
    memory_bytes: int


class ModelCard(BaseModel):
    """One servable model: OpenAI's fields, then Tympan's."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "tympan"
    task: str
    backend: str
    source: str
    description: str
    aliases: list[str]
    loaded: bool
    memory_bytes: int
    size_bytes: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _card(spec: ModelSpec, services: Services) -> ModelCard:
    status = services.manager.status(spec.id)
    return ModelCard(
        id=spec.id,
        task=spec.task,
        backend=spec.backend,
        source=spec.source,
        description=spec.description,
        aliases=list(spec.aliases),
        loaded=status.loaded,
        memory_bytes=status.memory_bytes,
        size_bytes=spec.size_bytes,
    )


@router.get("/healthz", response_model=Health)
def healthz(services: ServicesDep) -> Health:
    """Liveness, version, and how much model memory is in use."""
    loaded = sum(services.manager.status(s.id).loaded for s in services.registry.list())
    return Health(
        version=__version__, models_loaded=loaded, memory_bytes=services.manager.memory_bytes
    )


def _openai_cards(services: Services) -> dict[str, ModelCard]:
    """OpenAI's transcription names, each routed to a model (``TYMPAN_OPENAI_ASR_MODELS``)."""
    return {
        name: ModelCard(
            id=name,
            task="asr",
            backend="route",
            source=f"openai name -> {target}",
            description="language ID, then tiny.en for English and whisper-base otherwise"
            if target == AUTO
            else f"served by {target}",
            aliases=[],
            loaded=False,
            memory_bytes=0,
            size_bytes=0,
        )
        for name, target in services.settings.openai_asr_models.items()
    }


@router.get("/v1/models", response_model=ModelList)
def list_models(
    services: ServicesDep, namespace: NamespaceDep, task: str | None = None
) -> ModelList:
    """Every model the service can serve to the caller, optionally of one task."""
    specs = [spec for spec in services.registry.list(task) if model_visible(spec, namespace)]
    cards = [_card(spec, services) for spec in specs]
    if task in (None, "asr"):
        cards += _openai_cards(services).values()
    return ModelList(data=cards)


def _spec(services: Services, model_id: str, namespace: str) -> ModelSpec:
    spec = services.registry.get(model_id)
    if not model_visible(spec, namespace):
        raise ModelNotFound(f"No model named {model_id!r}.", param="model")
    return spec


@router.get("/v1/models/{model_id}", response_model=ModelCard)
def get_model(model_id: str, services: ServicesDep, namespace: NamespaceDep) -> ModelCard:
    """One model by id or alias (or an OpenAI transcription name)."""
    routed = _openai_cards(services).get(model_id)
    return routed or _card(_spec(services, model_id, namespace), services)


@router.post("/v1/models/{model_id}/load", response_model=ModelCard)
async def load_model(model_id: str, services: ServicesDep, namespace: NamespaceDep) -> ModelCard:
    """Load a model now, so the first request that needs it does not wait for the load."""
    spec = _spec(services, model_id, namespace)
    await run_in_threadpool(services.manager.load, spec.id)
    return _card(spec, services)


@router.post("/v1/models/{model_id}/unload", response_model=ModelCard)
def unload_model(model_id: str, services: ServicesDep, namespace: NamespaceDep) -> ModelCard:
    """Free a model's memory now; 409 while a request is using it (it loads again on use)."""
    spec = _spec(services, model_id, namespace)
    if not services.manager.unload(spec.id) and services.manager.status(spec.id).loaded:
        raise Conflict(
            f"Model {spec.id!r} is serving a request; unload it when idle.", param="model"
        )
    return _card(spec, services)


@router.get("/v1/models/{model_id}/drift", response_model=AsrDriftReport)
def model_drift(model_id: str, services: ServicesDep, namespace: NamespaceDep) -> AsrDriftReport:
    """How well an ASR model decoded its recent audio, per language (Whisper's own checks)."""
    spec = _spec(services, model_id, namespace)
    if spec.task != "asr":
        raise InvalidParameter(
            f"{spec.id!r} is a {spec.task} model; this drift is for ASR models (a classifier's "
            "is at /v1/classifiers/{name}/drift).",
            param="model",
        )
    settings = services.settings
    return asr_drift_report(
        spec.id,
        transcriber_for(services.manager, settings).quality,
        settings.asr_drift_failing_share,
        settings.drift_min_samples,
    )
