"""``/v1/models/{model}/glossary``: the names and terms an ASR model favours in every request.

A Tympan extension (words without training, issue 19): ``PUT`` stores a list of entries for a
model in the caller's namespace, and every transcription, translation and live session with
that model (or an alias routed to it) then passes them to Whisper as hotwords, after the
request's own.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tympan.api.deps import NamespaceDep, ServicesDep, require_visible_model
from tympan.api.services import Services
from tympan.store.glossaries import GlossaryStore
from tympan.tasks.asr.glossary import check_glossary

__all__ = ["router"]

router = APIRouter(tags=["asr"])


class GlossaryBody(BaseModel):
    words: list[str] = Field(description="Names and terms to favour, e.g. ['Caxton', 'Jenson'].")


class Glossary(BaseModel):
    object: Literal["glossary"] = "glossary"
    model: str
    words: list[str]


def _asr_model(services: Services, model: str, namespace: str) -> str:
    """The id of a visible ASR model (an alias resolves to it); 404 otherwise."""
    require_visible_model(services, model, namespace)
    return services.registry.get(model, task="asr").id


@router.get("/v1/models/{model}/glossary", response_model=Glossary)
async def get_glossary(model: str, services: ServicesDep, namespace: NamespaceDep) -> Glossary:
    """The model's stored glossary (no words when it has none)."""
    model_id = _asr_model(services, model, namespace)
    words = await asyncio.to_thread(GlossaryStore(services.db).get, namespace, model_id)
    return Glossary(model=model_id, words=words)


@router.put("/v1/models/{model}/glossary", response_model=Glossary)
async def put_glossary(
    model: str, body: GlossaryBody, services: ServicesDep, namespace: NamespaceDep
) -> Glossary:
    """Replace the model's glossary (entries stripped, repeats dropped)."""
    model_id = _asr_model(services, model, namespace)
    words = check_glossary(body.words, services.settings)
    await asyncio.to_thread(GlossaryStore(services.db).put, namespace, model_id, words)
    return Glossary(model=model_id, words=words)


@router.delete("/v1/models/{model}/glossary", response_model=Glossary)
async def delete_glossary(model: str, services: ServicesDep, namespace: NamespaceDep) -> Glossary:
    """Forget the model's glossary; 404 when it has none."""
    model_id = _asr_model(services, model, namespace)
    await asyncio.to_thread(GlossaryStore(services.db).delete, namespace, model_id)
    return Glossary(model=model_id, words=[])
