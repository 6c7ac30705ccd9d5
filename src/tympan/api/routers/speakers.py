"""``/v1/speakers``: embeddings, enrollment (persistent), verification, identification."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tympan.api.deps import (
    NamespaceDep,
    NoiseReductionField,
    ServicesDep,
    audio_upload,
    decode_upload,
    decode_uploads,
    reduce_upload_noise,
)
from tympan.api.services import Services
from tympan.audio import Audio
from tympan.errors import InvalidParameter, TympanError
from tympan.store.speakers import SampleEmbedding, Speaker, speaker_store
from tympan.tasks.speakers import (
    SPEAKER_TASK,
    Embedding,
    Identification,
    SpeakerEncoder,
    Verification,
    check_threshold,
    default_threshold,
    embed_audio,
    enrolled_index,
    speaker_model_id,
    verify,
)

__all__ = ["router"]

router = APIRouter(tags=["speakers"])

EmbedAudio = audio_upload("speaker_embed")
VerifyAudio = audio_upload("speaker_verify")
IdentifyAudio = audio_upload("speaker_identify")

MAX_METADATA_BYTES = 16 * 1024

ModelField = Annotated[str | None, Form(description="Speaker model id; default model if omitted.")]
ThresholdField = Annotated[
    float | None,
    Form(ge=-1, le=1, description="Cosine threshold; the model's EER point if omitted."),
]
Files = Annotated[list[UploadFile], File(description="One or more recordings of the speaker.")]


async def _embed(services: Services, model: str, audios: list[Audio]) -> list[np.ndarray]:
    def run(encoder: SpeakerEncoder) -> list[np.ndarray]:
        return [encoder.embed(audio) for audio in audios]

    return await services.manager.infer(model, run, task=SPEAKER_TASK)


async def _samples(
    services: Services, model: str, files: list[UploadFile], noise_reduction: str | None
) -> list[SampleEmbedding]:
    audios = [
        await reduce_upload_noise(audio, services, noise_reduction, "speaker_enroll")
        for audio in await decode_uploads(files, services, "file")
    ]
    vectors = await _embed(services, model, audios)
    return [
        SampleEmbedding(vector, round(audio.duration, 3), upload.filename)
        for vector, audio, upload in zip(vectors, audios, files, strict=True)
    ]


def _metadata(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise InvalidParameter(f"metadata is over {MAX_METADATA_BYTES} bytes.", param="metadata")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"metadata is not valid JSON: {exc.msg}.", param="metadata") from exc
    if not isinstance(value, dict):
        raise InvalidParameter("metadata must be a JSON object.", param="metadata")
    return value


@router.post("/v1/speakers/embed", response_model=Embedding)
async def embed_speaker(
    audio: EmbedAudio, services: ServicesDep, model: ModelField = None
) -> Embedding:
    """The L2-normalised speaker embedding of ``file`` and the model that computed it."""
    model_id = speaker_model_id(services.registry, model)
    return await services.manager.infer(
        model_id, lambda encoder: embed_audio(encoder, model_id, audio), task=SPEAKER_TASK
    )


@router.post("/v1/speakers", response_model=Speaker)
async def enroll_speaker(
    services: ServicesDep,
    namespace: NamespaceDep,
    name: Annotated[str, Form(description="Unique (ignoring case) display name.")],
    file: Files,
    metadata: Annotated[
        str | None, Form(description="A JSON object kept with the speaker.")
    ] = None,
    model: ModelField = None,
    noise_reduction: NoiseReductionField = None,
) -> Speaker:
    """Enroll a speaker from one or more recordings; 409 if the name is taken."""
    meta = _metadata(metadata)
    model_id = speaker_model_id(services.registry, model)
    samples = await _samples(services, model_id, file, noise_reduction)
    store = speaker_store(services.db)
    return await run_in_threadpool(store.create, name, model_id, samples, meta, namespace)


@router.post("/v1/speakers/{speaker_id}/samples", response_model=Speaker)
async def add_speaker_samples(
    speaker_id: str,
    services: ServicesDep,
    namespace: NamespaceDep,
    file: Files,
    noise_reduction: NoiseReductionField = None,
) -> Speaker:
    """Add recordings to a speaker; the voiceprint is updated incrementally."""
    store = speaker_store(services.db)
    model_id = await run_in_threadpool(store.model_of, speaker_id, namespace)
    samples = await _samples(services, model_id, file, noise_reduction)
    return await run_in_threadpool(store.add_samples, speaker_id, samples, namespace)


@router.get("/v1/speakers", response_model=list[Speaker])
def list_speakers(services: ServicesDep, namespace: NamespaceDep) -> list[Speaker]:
    """Every speaker enrolled in the caller's namespace."""
    return speaker_store(services.db).list(namespace)


@router.get("/v1/speakers/{speaker_id}", response_model=Speaker)
def get_speaker(speaker_id: str, services: ServicesDep, namespace: NamespaceDep) -> Speaker:
    """One enrolled speaker."""
    return speaker_store(services.db).get(speaker_id, namespace)


class SpeakerUpdate(BaseModel):
    """A rename and/or new metadata; fields left out stay as they are."""

    name: str | None = None
    metadata: dict[str, Any] | None = None


@router.patch("/v1/speakers/{speaker_id}", response_model=Speaker)
async def update_speaker(
    speaker_id: str, update: SpeakerUpdate, services: ServicesDep, namespace: NamespaceDep
) -> Speaker:
    """Rename a speaker or replace its metadata; 409 if the name is another speaker's."""
    meta = None if update.metadata is None else _metadata(json.dumps(update.metadata))
    store = speaker_store(services.db)
    return await run_in_threadpool(store.update, speaker_id, update.name, meta, namespace)


@router.delete("/v1/speakers/{speaker_id}", status_code=204)
def delete_speaker(speaker_id: str, services: ServicesDep, namespace: NamespaceDep) -> Response:
    """Delete a speaker with its samples and voiceprint."""
    speaker_store(services.db).delete(speaker_id, namespace)
    return Response(status_code=204)


@router.post("/v1/speakers/verify", response_model=Verification)
async def verify_speaker(
    audio: VerifyAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    speaker_id: Annotated[str | None, Form(description="Compare against this speaker.")] = None,
    file2: Annotated[UploadFile | None, File(description="Or against this recording.")] = None,
    threshold: ThresholdField = None,
    model: ModelField = None,
    noise_reduction: Annotated[str | None, Form(include_in_schema=False)] = None,
) -> Verification:
    """Is ``file`` the same speaker as ``speaker_id`` (or as ``file2``)? Score and decision."""
    if (speaker_id is None) == (file2 is None):
        raise InvalidParameter("Give exactly one of speaker_id and file2.", param="speaker_id")
    store = speaker_store(services.db)
    if speaker_id is not None:
        speaker = await run_in_threadpool(store.get, speaker_id, namespace)
        if model is not None and speaker_model_id(services.registry, model) != speaker.model:
            raise InvalidParameter(
                f"Speaker {speaker_id!r} was enrolled with model {speaker.model!r}.", param="model"
            )
        (query,) = await _embed(services, speaker.model, [audio])
        reference = await run_in_threadpool(store.voiceprint, speaker_id, namespace)
        chosen = check_threshold(
            default_threshold(speaker.model) if threshold is None else threshold
        )
        result = verify(speaker.model, query, reference, chosen)
        return replace(result, speaker_id=speaker.id, name=speaker.name)
    assert file2 is not None
    model_id = speaker_model_id(services.registry, model)
    second = await decode_upload(file2, services, param="file2")
    second = await reduce_upload_noise(second, services, noise_reduction, "speaker_verify")
    (query,) = await _embed(services, model_id, [audio])
    try:
        (reference,) = await _embed(services, model_id, [second])
    except TympanError as exc:
        exc.param = "file2"  # the encoder names its input "file"
        raise
    chosen = check_threshold(default_threshold(model_id) if threshold is None else threshold)
    return verify(model_id, query, reference, chosen)


@router.post("/v1/speakers/identify", response_model=Identification)
async def identify_speaker(
    audio: IdentifyAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    speaker_ids: Annotated[
        str | None, Form(description="Comma-separated ids to choose among; all if omitted.")
    ] = None,
    threshold: ThresholdField = None,
    top_k: Annotated[int, Form(ge=1, le=100, description="Length of the ranking.")] = 5,
    model: ModelField = None,
) -> Identification:
    """Who among the enrolled speakers is this? ``speaker`` is null when nobody matches."""
    model_id = speaker_model_id(services.registry, model)
    ids = None
    if speaker_ids is not None:
        ids = [item.strip() for item in speaker_ids.split(",") if item.strip()]
        if not ids:
            raise InvalidParameter("speaker_ids names no speaker.", param="speaker_ids")
    index = await run_in_threadpool(enrolled_index, services.db, model_id, ids, namespace)
    (query,) = await _embed(services, model_id, [audio])
    chosen = check_threshold(default_threshold(model_id) if threshold is None else threshold)
    return index.identify(model_id, query, chosen, top_k)
