"""``/v1/audio/corrections``: Tympan's extension to keep an ASR model learning from fixes.

``POST`` a clip (``file``, at most ``TYMPAN_CORRECTION_MAX_SECONDS``) with its corrected
transcript (``text``, at most ``TYMPAN_CORRECTION_MAX_CHARS``) for an ASR ``model``; ``GET``
lists them (``?model=``), ``DELETE`` forgets one. When a model's corrections not yet trained on
reach ``TYMPAN_CORRECTIONS_BATCH``, or on ``POST /v1/audio/corrections/train``, a fine-tuning
job trains on them (``/v1/fine_tuning/jobs/{id}`` follows it) and promotes the new version only
if it wins on held-back corrections without regressing on general English.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from tympan.api.deps import NamespaceDep, ServicesDep
from tympan.store.corrections import Correction
from tympan.store.finetuning import FineTuningJob
from tympan.tasks.adaptation.corrections import CorrectionsService, CorrectionTraining

__all__ = ["router"]

router = APIRouter(tags=["corrections"])


class CorrectionObject(BaseModel):
    id: str
    object: Literal["audio.correction"] = "audio.correction"
    model: str
    text: str
    speaker: str | None
    seconds: float
    created_at: int
    fine_tuning_job: str | None = Field(
        None, description="The job that trains (or trained) on this correction."
    )
    held_back: bool = Field(
        False,
        description="Kept out of training by its job: every new version of the model is "
        "judged on it.",
    )

    @classmethod
    def of(cls, correction: Correction) -> CorrectionObject:
        return cls(
            id=correction.id,
            model=correction.model,
            text=correction.text,
            speaker=correction.speaker,
            seconds=correction.seconds,
            created_at=int(correction.created_at.timestamp()),
            fine_tuning_job=correction.job_id,
            held_back=correction.held_back,
        )


class CorrectionList(BaseModel):
    object: Literal["list"] = "list"
    count: int
    unused: int = Field(
        description="How many a new job would train on (none took them, or its job failed)."
    )
    data: list[CorrectionObject]


class CorrectionDeleted(BaseModel):
    id: str
    object: Literal["audio.correction"] = "audio.correction"
    deleted: bool = True


class TrainRequest(BaseModel):
    """Which model's corrections to train on, and optional fine-tuning choices."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_method: Literal["lora", "top_layers", "full"] = "lora"
    layers: Literal["decoder", "top_encoder", "all"] | None = None  # None: the task default
    max_steps: int | None = Field(None, ge=1)
    n_epochs: int | None = Field(None, ge=1, le=50)
    learning_rate: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=0, lt=2**31)


class TrainStarted(BaseModel):
    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    model: str
    status: str

    @classmethod
    def of(cls, job: FineTuningJob) -> TrainStarted:
        return cls(id=job.id, model=job.model, status=job.status)


@router.post("/v1/audio/corrections", response_model=CorrectionObject)
async def add_correction(
    services: ServicesDep,
    namespace: NamespaceDep,
    file: Annotated[UploadFile, File(description="The clip (at most 30 s).")],
    text: Annotated[str, Form(description="What was really said in the clip.")],
    model: Annotated[str, Form(description="The ASR model whose transcript this corrects.")],
    speaker: Annotated[str | None, Form(description="Who speaks, if known.")] = None,
) -> CorrectionObject:
    """Store a correction; a full batch starts a fine-tuning job (``fine_tuning_job``)."""
    corrections = CorrectionsService(services, namespace)
    correction, job = await services.manager.run(corrections.add, file.file, text, model, speaker)
    stored = CorrectionObject.of(correction)
    return stored.model_copy(update={"fine_tuning_job": job.id}) if job else stored


@router.get("/v1/audio/corrections", response_model=CorrectionList)
def list_corrections(
    services: ServicesDep, namespace: NamespaceDep, model: str | None = None
) -> CorrectionList:
    """The caller's corrections (of ``model``), oldest first."""
    service = CorrectionsService(services, namespace)
    corrections = service.list(model)
    return CorrectionList(
        count=len(corrections),
        unused=len(service.list(model, unused=True)),
        data=[CorrectionObject.of(c) for c in corrections],
    )


@router.delete("/v1/audio/corrections/{correction_id}", response_model=CorrectionDeleted)
def delete_correction(
    correction_id: str, services: ServicesDep, namespace: NamespaceDep
) -> CorrectionDeleted:
    """Forget a correction and remove its audio."""
    return CorrectionDeleted(id=CorrectionsService(services, namespace).delete(correction_id).id)


@router.post("/v1/audio/corrections/train", response_model=TrainStarted)
async def train_on_corrections(
    body: TrainRequest, services: ServicesDep, namespace: NamespaceDep
) -> TrainStarted:
    """Start a fine-tuning job on the model's unused corrections now (400 fewer than three)."""
    training = CorrectionTraining(**body.model_dump(exclude={"model"}, exclude_none=True))
    corrections = CorrectionsService(services, namespace)
    return TrainStarted.of(await run_in_threadpool(corrections.train, body.model, training))
