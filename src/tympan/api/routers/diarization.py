"""``POST /v1/audio/diarization``: who spoke when, with enrolled speakers named;
``POST /v1/audio/diarization/overlap/train`` trains the speaker-count model that gives
overlapped speech its second speaker, ``GET /v1/audio/diarization/overlap`` reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from tympan.api.deps import KnownSpeakersDep, NamespaceDep, ServicesDep, audio_upload
from tympan.errors import InvalidDataset
from tympan.paths import confine_path
from tympan.store.jobs import Job
from tympan.tasks.diarization import (
    MAX_SPEAKERS,
    OVERLAP_MODEL_ID,
    ClusteringMethod,
    DiarizationOptions,
    DiarizationResult,
    SpeakerCount,
    diarize_with_models,
    to_rttm,
    train_overlap_from_folder,
)
from tympan.tasks.diarization.overlap import training_report
from tympan.tasks.diarization.overlap_training import OverlapTrainOptions

__all__ = ["router"]

router = APIRouter(tags=["diarization"])

DiarizationAudio = audio_upload("diarization")

Count = Annotated[int | None, Form(ge=1, le=MAX_SPEAKERS)]
_TRAINING = OverlapTrainOptions()  # the defaults a training request starts from


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
    overlap: Annotated[
        bool, Form(description="Two speakers where they overlap (needs the trained model).")
    ] = True,
) -> DiarizationResult | PlainTextResponse:
    """Speaker turns ``{start, end, speaker, speaker_id, name}`` as JSON or RTTM.

    ``known_speaker_names[]`` + ``known_speaker_references[]`` name speakers for this request
    only, as OpenAI's transcription API takes them."""
    count = SpeakerCount(num_speakers, min_speakers or 1, max_speakers)
    options = DiarizationOptions(
        count=count,
        clustering=clustering,
        identify=identify,
        identify_threshold=threshold,
        overlap=overlap,
    )
    result = await diarize_with_models(
        services.manager, services.db, audio, model, options, namespace, known
    )
    if response_format == "rttm":
        file_id = Path(audio.source.name).stem if audio.source.name else "audio"
        return PlainTextResponse(to_rttm(result, file_id))
    return result


class OverlapTrainRequest(BaseModel):
    """A dataset folder on the server (under ``TYMPAN_DATASET_ROOTS``) whose manifest names
    clips of single speakers (``audio``, ``speaker``), optional noise recordings, and how
    long to train."""

    path: str = Field(description="Dataset folder with manifest.csv or manifest.jsonl.")
    noise_path: str | None = Field(None, description="Folder of noise recordings to mix in.")
    steps: int = Field(_TRAINING.steps, ge=1, le=100_000)
    batch_size: int = Field(_TRAINING.batch_size, ge=1, le=256)
    learning_rate: float = Field(_TRAINING.learning_rate, gt=0, le=0.1)
    seed: int = 0


class OverlapModelInfo(BaseModel):
    """The speaker-count model: whether it is trained, and its training report."""

    model: str
    trained: bool
    report: dict | None = None


@router.post("/v1/audio/diarization/overlap/train", response_model=Job, status_code=202)
def train_overlap(body: OverlapTrainRequest, services: ServicesDep) -> Job:
    """Train the speaker-count model as a background job; poll ``GET /v1/jobs/{id}``."""
    roots = services.settings.dataset_roots
    dataset = confine_path(body.path, roots)
    noises = confine_path(body.noise_path, roots) if body.noise_path else None
    options = OverlapTrainOptions(
        steps=body.steps,
        batch_size=body.batch_size,
        learning_rate=body.learning_rate,
        seed=body.seed,
        threads=services.settings.cpu_threads,
    )
    options.validate()
    if not any((dataset / name).is_file() for name in ("manifest.csv", "manifest.jsonl")):
        raise InvalidDataset(
            "The dataset folder has no manifest.csv or manifest.jsonl (audio,speaker)."
        )
    return services.jobs.submit(
        "overlap-train",
        lambda progress: train_overlap_from_folder(
            services.manager, dataset, noises, options, progress
        ),
        {"path": body.path, "noise_path": body.noise_path, "steps": body.steps},
    )


@router.get("/v1/audio/diarization/overlap", response_model=OverlapModelInfo)
def overlap_model(services: ServicesDep) -> OverlapModelInfo:
    """Whether the speaker-count model is trained, with its training report."""
    report = training_report(services.settings.models_dir)
    return OverlapModelInfo(model=OVERLAP_MODEL_ID, trained=report is not None, report=report)
