"""Health and the model list (OpenAI's ``/v1/models`` shape plus Tympan's fields)."""

from __future__ import annotations

import contextlib
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from tympan import __version__
from tympan.api.deps import NamespaceDep, ServicesDep
from tympan.api.services import Services
from tympan.errors import ModelNotFound
from tympan.models.spec import ModelSpec
from tympan.tasks.asr import BASE_MODEL_ID, DEFAULT_MODEL_ID
from tympan.tasks.asr.routing import AUTO_ROUTE

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


def _route_card(name: str, target: str, services: Services) -> ModelCard:
    """An OpenAI transcription name, served by the model (or language route) it maps to."""
    targets = [DEFAULT_MODEL_ID, BASE_MODEL_ID] if target == AUTO_ROUTE else [target]
    served_by = []
    for target_id in targets:
        with contextlib.suppress(ModelNotFound):
            served_by.append(services.registry.get(target_id, task="asr"))
    statuses = [services.manager.status(spec.id) for spec in served_by]
    routed = " or ".join(spec.id for spec in served_by) or f"{target} (not found)"
    return ModelCard(
        id=name,
        task="asr",
        backend="route",
        source="setting:TYMPAN_ASR_OPENAI_MODELS",
        description=f"OpenAI name served by {routed}"
        + (", chosen by language ID" if target == AUTO_ROUTE else ""),
        aliases=[],
        loaded=bool(statuses) and all(status.loaded for status in statuses),
        memory_bytes=sum(status.memory_bytes for status in statuses),
        size_bytes=sum(spec.size_bytes for spec in served_by),
    )


def _route_cards(services: Services, task: str | None) -> list[ModelCard]:
    if task not in (None, "asr"):
        return []
    routes = services.settings.asr_openai_models
    return [_route_card(name, target, services) for name, target in routes.items()]


@router.get("/healthz", response_model=Health)
def healthz(services: ServicesDep) -> Health:
    """Liveness, version, and how much model memory is in use."""
    loaded = sum(services.manager.status(s.id).loaded for s in services.registry.list())
    return Health(
        version=__version__, models_loaded=loaded, memory_bytes=services.manager.memory_bytes
    )


def _visible(spec: ModelSpec, namespace: str) -> bool:
    """Bundled models are everyone's; a trained one belongs to its namespace."""
    return spec.options.get("namespace", namespace) == namespace


@router.get("/v1/models", response_model=ModelList)
def list_models(
    services: ServicesDep, namespace: NamespaceDep, task: str | None = None
) -> ModelList:
    """Every model the service can serve to the caller, optionally of one task."""
    specs = [spec for spec in services.registry.list(task) if _visible(spec, namespace)]
    cards = [_card(spec, services) for spec in specs]
    return ModelList(data=cards + _route_cards(services, task))


@router.get("/v1/models/{model_id}", response_model=ModelCard)
def get_model(model_id: str, services: ServicesDep, namespace: NamespaceDep) -> ModelCard:
    """One model by id or alias (an OpenAI transcription name describes its route)."""
    routes = services.settings.asr_openai_models
    if model_id in routes:
        return _route_card(model_id, routes[model_id], services)
    spec = services.registry.get(model_id)
    if not _visible(spec, namespace):
        raise ModelNotFound(f"No model named {model_id!r}.", param="model")
    return _card(spec, services)
