"""``/v1/fine_tuning/jobs``: OpenAI's fine-tuning API for speech recognition.

Create (a Whisper model and a ``fine-tune`` file), list (``after``/``limit``), retrieve,
cancel, and list events (messages, and ``metrics`` with step, train_loss, valid_wer); and
Tympan's ``/report`` of the published model, and the versions, stages, promote and rollback
of ``/v1/fine_tuning/models/{ft:<base>:<suffix>}``. The
finished job's ``fine_tuned_model`` (``ft:<base>:<suffix>:<N>``) transcribes by name at once.
Tympan's choices ride beside OpenAI's fields (the ``openai`` client's ``extra_body``):
``training_method`` (lora, top_layers, full), ``layers``, ``augment``, ``lora_rank``,
``max_steps``, ``learning_rate``, ``validation_share``, ``language``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tympan.api.deps import NamespaceDep, ServicesDep
from tympan.errors import InvalidParameter
from tympan.store.finetuning import FineTunedModel, FineTuningEvent, FineTuningJob, Stage
from tympan.tasks.adaptation import FineTuningRequest, FineTuningService

__all__ = ["router"]

router = APIRouter(tags=["fine-tuning"])

Augmentation = Literal["noise", "speed", "specaugment", "adversarial"]
_EVENT_PREFIX = "ftevent-"


def _auto_or(kind: type, low: float, high: float, strict_low: bool = False) -> AfterValidator:
    """``"auto"``, or a ``kind`` number within [low, high] (above ``low`` when strict)."""

    def check(value: Any) -> Any:
        if value == "auto":
            return value
        kinds = (int, float) if kind is float else (kind,)
        if isinstance(value, str | bool) or not isinstance(value, kinds):
            raise ValueError(f"must be 'auto' or a {kind.__name__}")
        above = value > low if strict_low else value >= low
        if not above or value > high:
            bound = f"over {low:g}" if strict_low else f"at least {low:g}"
            raise ValueError(f"must be 'auto' or a {kind.__name__} {bound} and at most {high:g}")
        return value

    return AfterValidator(check)


class Hyperparameters(BaseModel):
    """OpenAI's hyper-parameters; ``auto`` takes the adaptation task's default."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Annotated[int | str, _auto_or(int, 1, 50)] = "auto"
    batch_size: Annotated[int | str, _auto_or(int, 1, 256)] = "auto"
    learning_rate_multiplier: Annotated[float | str, _auto_or(float, 0, 10, True)] = "auto"


class SupervisedMethod(BaseModel):
    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    """OpenAI's ``method``: only ``supervised`` fine-tuning exists for speech."""

    type: Literal["supervised"]
    supervised: SupervisedMethod | None = None


class CreateJob(BaseModel):
    """OpenAI's create body, then Tympan's extensions; unknown fields are refused (400)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    suffix: str | None = None
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None
    training_method: Literal["lora", "top_layers", "full"] = "lora"
    layers: Literal["decoder", "top_encoder", "all"] | None = None  # None: the task default
    augment: list[Augmentation] = []
    lora_rank: int | None = Field(None, ge=1, le=256)
    max_steps: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0, le=1)
    validation_share: float = Field(0.1, gt=0, lt=1)
    language: str = Field("en", pattern=r"^[a-z]{2,3}$")

    def request(self) -> FineTuningRequest:
        """The service's request; ``hyperparameters`` win over ``method``'s."""
        if self.integrations:
            raise InvalidParameter("integrations are not supported.", param="integrations")
        method_hyper = (
            self.method.supervised.hyperparameters
            if self.method and self.method.supervised
            else None
        )
        hyper = self.hyperparameters or method_hyper or Hyperparameters()
        return FineTuningRequest(
            model=self.model,
            training_file=self.training_file,
            validation_file=self.validation_file,
            suffix=self.suffix,
            seed=self.seed,
            n_epochs=_given(hyper.n_epochs),
            batch_size=_given(hyper.batch_size),
            learning_rate_multiplier=_given(hyper.learning_rate_multiplier),
            training_method=self.training_method,
            layers=self.layers,
            augment=tuple(self.augment),
            lora_rank=self.lora_rank,
            max_steps=self.max_steps,
            learning_rate=self.learning_rate,
            validation_share=self.validation_share,
            language=self.language,
            metadata=self.metadata,
        )


def _given(value: Any) -> Any:
    return None if value == "auto" else value


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class FineTuningJobObject(BaseModel):
    """OpenAI's ``fine_tuning.job``, plus Tympan's choices under ``tympan``."""

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str
    result_files: list[str] = []
    seed: int
    status: str
    suffix: str
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any]
    tympan: dict[str, Any]

    @classmethod
    def of(cls, job: FineTuningJob) -> FineTuningJobObject:
        error = job.error
        options = dict(job.options)
        metadata = options.pop("metadata", None)
        return cls(
            id=job.id,
            created_at=int(job.created_at.timestamp()),
            error=JobError(
                code=error.get("code") or "error",
                message=error.get("message") or "",
                param=error.get("param"),
            )
            if error
            else None,
            fine_tuned_model=job.fine_tuned_model,
            finished_at=int(job.finished_at.timestamp()) if job.finished_at else None,
            hyperparameters=job.hyperparameters,
            model=job.model,
            organization_id=job.namespace,
            seed=job.seed,
            status=job.status,
            suffix=job.suffix,
            training_file=job.training_file,
            validation_file=job.validation_file,
            metadata=metadata,
            method={"type": "supervised", "supervised": {"hyperparameters": job.hyperparameters}},
            tympan=options,
        )


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningJobObject]
    has_more: bool


class EventObject(BaseModel):
    """OpenAI's ``fine_tuning.job.event``."""

    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: str
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any] | None = None

    @classmethod
    def of(cls, event: FineTuningEvent) -> EventObject:
        return cls(
            id=f"{_EVENT_PREFIX}{event.id}",
            created_at=int(event.created_at.timestamp()),
            level=event.level,
            message=event.message,
            type=event.type,  # type: ignore[arg-type]
            data=event.data,
        )


class EventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EventObject]
    has_more: bool


Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/v1/fine_tuning/jobs", response_model=FineTuningJobObject)
def create_job(
    body: CreateJob, services: ServicesDep, namespace: NamespaceDep
) -> FineTuningJobObject:
    """Queue a fine-tuning job (404 unknown model or file, 400 bad choices); poll it, or its
    events, until ``succeeded`` names the ``fine_tuned_model``."""
    job = FineTuningService(services, namespace).create_job(body.request())
    return FineTuningJobObject.of(job)


@router.get("/v1/fine_tuning/jobs", response_model=JobList)
def list_jobs(
    services: ServicesDep, namespace: NamespaceDep, after: str | None = None, limit: Limit = 20
) -> JobList:
    """The caller's jobs, newest first, after the job ``after``."""
    jobs, more = FineTuningService(services, namespace).list_jobs(after, limit)
    return JobList(data=[FineTuningJobObject.of(job) for job in jobs], has_more=more)


@router.get("/v1/fine_tuning/jobs/{job_id}", response_model=FineTuningJobObject)
def retrieve_job(
    job_id: str, services: ServicesDep, namespace: NamespaceDep
) -> FineTuningJobObject:
    """One job's state."""
    return FineTuningJobObject.of(FineTuningService(services, namespace).get_job(job_id))


@router.post("/v1/fine_tuning/jobs/{job_id}/cancel", response_model=FineTuningJobObject)
def cancel_job(job_id: str, services: ServicesDep, namespace: NamespaceDep) -> FineTuningJobObject:
    """Cancel a queued or running job (409 once it ended); it publishes no model."""
    return FineTuningJobObject.of(FineTuningService(services, namespace).cancel_job(job_id))


@router.get("/v1/fine_tuning/jobs/{job_id}/events", response_model=EventList)
def list_events(
    job_id: str,
    services: ServicesDep,
    namespace: NamespaceDep,
    after: str | None = None,
    limit: Limit = 20,
) -> EventList:
    """A job's events, newest first, older than the event ``after``."""
    cursor = None
    if after is not None:
        number = after.removeprefix(_EVENT_PREFIX)
        if not number.isdigit():
            raise InvalidParameter(f"after must be an event id ({_EVENT_PREFIX}N).", param="after")
        cursor = int(number)
    events, more = FineTuningService(services, namespace).events(job_id, cursor, limit)
    return EventList(data=[EventObject.of(event) for event in events], has_more=more)


@router.get("/v1/fine_tuning/jobs/{job_id}/report")
def job_report(job_id: str, services: ServicesDep, namespace: NamespaceDep) -> dict[str, Any]:
    """The published model's report: validation WER before and after, per utterance, curves
    (404 until the job published a model)."""
    return FineTuningService(services, namespace).report(job_id)


class ModelVersion(BaseModel):
    """A published version of a fine-tuned model and its stage."""

    id: str
    name: str
    version: int
    stage: str
    base: str
    fine_tuning_job: str
    created_at: int
    valid_wer: float | None
    base_valid_wer: float | None

    @classmethod
    def of(cls, model: FineTunedModel) -> ModelVersion:
        return cls(
            id=model.ref,
            name=model.name,
            version=model.version,
            stage=model.stage,
            base=model.base,
            fine_tuning_job=model.job_id,
            created_at=int(model.created_at.timestamp()),
            valid_wer=model.report.get("valid_wer"),
            base_valid_wer=model.report.get("base_valid_wer"),
        )


class PromoteRequest(BaseModel):
    version: int
    stage: Stage = "production"


@router.get("/v1/fine_tuning/models/{name}/versions", response_model=list[ModelVersion])
def model_versions(name: str, services: ServicesDep, namespace: NamespaceDep) -> list[ModelVersion]:
    """Every published version of ``ft:<base>:<suffix>`` with its stage and validation WER."""
    versions = FineTuningService(services, namespace).versions(name)
    return [ModelVersion.of(model) for model in versions]


@router.post("/v1/fine_tuning/models/{name}/promote", response_model=ModelVersion)
def promote_model(
    name: str, request: PromoteRequest, services: ServicesDep, namespace: NamespaceDep
) -> ModelVersion:
    """Move a version to a stage; the bare name serves the production version."""
    service = FineTuningService(services, namespace)
    return ModelVersion.of(service.promote(name, request.version, request.stage))


@router.post("/v1/fine_tuning/models/{name}/rollback", response_model=ModelVersion)
def rollback_model(name: str, services: ServicesDep, namespace: NamespaceDep) -> ModelVersion:
    """Restore the previous production version (409 if there is none)."""
    return ModelVersion.of(FineTuningService(services, namespace).rollback(name))
