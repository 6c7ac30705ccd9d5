"""``POST /v1/audio/diarization``: who spoke when, with enrolled speakers named."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from tympan.api.deps import AudioUpload, NamespaceDep, ServicesDep
from tympan.api.routers.speakers import resolve_speaker_model
from tympan.api.services import Services
from tympan.audio import Audio
from tympan.budgets import check_budget
from tympan.tasks.diarization import (
    MAX_SPEAKERS,
    ClusteringMethod,
    DiarizationOptions,
    DiarizationResult,
    SpeakerCount,
    diarize,
    to_rttm,
)
from tympan.tasks.speakers import SPEAKER_TASK, default_threshold, enrolled_index
from tympan.tasks.vad import SILERO_MODEL_ID

__all__ = ["diarize_audio", "router"]

router = APIRouter(tags=["diarization"])

Count = Annotated[int | None, Form(ge=1, le=MAX_SPEAKERS)]


async def diarize_audio(
    services: Services,
    audio: Audio,
    model: str | None,
    options: DiarizationOptions,
    namespace: str,
) -> DiarizationResult:
    """Run the diarization pipeline with the VAD and speaker models leased, in the pool.

    Enrolled speakers of the chosen model in ``namespace`` are matched when
    ``options.identify`` is set.
    """
    options.validate()
    check_budget(
        services.settings,
        "max_diarization_seconds",
        audio.duration,
        "seconds of audio to diarize",
        param="file",
    )
    model_id = resolve_speaker_model(services, model)
    index = None
    if options.identify:
        index = await run_in_threadpool(enrolled_index, services.db, model_id, None, namespace)
    manager = services.manager

    def run() -> DiarizationResult:
        with (
            manager.use(SILERO_MODEL_ID) as vad,
            manager.use(model_id, task=SPEAKER_TASK) as encoder,
        ):
            return diarize(
                audio,
                vad.handle,
                encoder.handle,
                model_id,
                options,
                index,
                default_threshold(model_id),
            )

    return await manager.run(run)


@router.post("/v1/audio/diarization", response_model=DiarizationResult)
async def audio_diarization(
    audio: AudioUpload,
    services: ServicesDep,
    namespace: NamespaceDep,
    num_speakers: Count = None,
    min_speakers: Count = None,
    max_speakers: Count = None,
    response_format: Annotated[Literal["json", "rttm"], Form()] = "json",
    clustering: Annotated[ClusteringMethod, Form()] = "agglomerative",
    identify: Annotated[bool, Form(description="Name segments of enrolled speakers.")] = True,
    threshold: Annotated[
        float | None, Form(ge=-1, le=1, description="Score a speaker needs to be named.")
    ] = None,
    model: Annotated[str | None, Form(description="Speaker model id.")] = None,
) -> DiarizationResult | PlainTextResponse:
    """Speaker turns ``{start, end, speaker, speaker_id, name}`` as JSON or RTTM."""
    count = SpeakerCount(num_speakers, min_speakers or 1, max_speakers)
    options = DiarizationOptions(
        count=count, clustering=clustering, identify=identify, identify_threshold=threshold
    )
    result = await diarize_audio(services, audio, model, options, namespace)
    if response_format == "rttm":
        file_id = Path(audio.source.name).stem if audio.source.name else "audio"
        return PlainTextResponse(to_rttm(result, file_id))
    return result
