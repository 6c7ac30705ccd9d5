"""``POST /v1/audio/diarization``: who spoke when, with enrolled speakers named."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form
from fastapi.responses import PlainTextResponse

from tympan.api.deps import KnownSpeakersDep, NamespaceDep, ServicesDep, audio_upload
from tympan.tasks.diarization import (
    MAX_SPEAKERS,
    ClusteringMethod,
    DiarizationOptions,
    DiarizationResult,
    SpeakerCount,
    diarize_with_models,
    to_rttm,
)

__all__ = ["router"]

router = APIRouter(tags=["diarization"])

DiarizationAudio = audio_upload("diarization")

Count = Annotated[int | None, Form(ge=1, le=MAX_SPEAKERS)]


@router.post("/v1/audio/diarization", response_model=DiarizationResult)
async def audio_diarization(
    audio: DiarizationAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    known: KnownSpeakersDep,
    num_speakers: Count = None,
    min_speakers: Count = None,
    max_speakers: Count = None,
    response_format: Annotated[Literal["json", "rttm"], Form()] = "json",
    clustering: Annotated[ClusteringMethod, Form()] = "spectral",
    identify: Annotated[bool, Form(description="Name segments of enrolled speakers.")] = True,
    threshold: Annotated[
        float | None, Form(ge=-1, le=1, description="Score a speaker needs to be named.")
    ] = None,
    model: Annotated[str | None, Form(description="Speaker model id.")] = None,
) -> DiarizationResult | PlainTextResponse:
    """Speaker turns ``{start, end, speaker, speaker_id, name}`` as JSON or RTTM.

    ``known_speaker_names[]`` + ``known_speaker_references[]`` name speakers for this request
    only, as OpenAI's transcription API takes them."""
    count = SpeakerCount(num_speakers, min_speakers or 1, max_speakers)
    options = DiarizationOptions(
        count=count, clustering=clustering, identify=identify, identify_threshold=threshold
    )
    result = await diarize_with_models(
        services.manager, services.db, audio, model, options, namespace, known
    )
    if response_format == "rttm":
        file_id = Path(audio.source.name).stem if audio.source.name else "audio"
        return PlainTextResponse(to_rttm(result, file_id))
    return result
