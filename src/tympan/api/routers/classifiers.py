"""``/v1/classifiers``: train (a job), versions, reports, stages, predict, detect, examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from pydantic import BaseModel

from tympan.api.deps import NamespaceDep, ServicesDep, audio_upload, decode_uploads
from tympan.api.services import Services
from tympan.errors import InvalidParameter, ResourceNotFound
from tympan.paths import confine_path
from tympan.store.classifiers import ClassifierVersion, served_version
from tympan.store.jobs import Job
from tympan.tasks.asr import transcriber_for
from tympan.tasks.classifiers import (
    CLASSIFIER_TASK,
    ENCODER_MODEL_ID,
    Architecture,
    ClassifierService,
    DetectionResult,
    ExamplesResult,
    Prediction,
    TrainConfig,
    classify,
    detect_events,
)
from tympan.tasks.classifiers.archive import ArchiveLimits, extract_archive
from tympan.tasks.classifiers.dataset import load_dataset
from tympan.tasks.classifiers.drift import DriftReport
from tympan.tasks.classifiers.report_page import report_html
from tympan.tasks.classifiers.service import check_name
from tympan.tasks.classifiers.transcripts import transcribe_clip
from tympan.tasks.vad import SILERO_MODEL_ID, VadOptions, detect_speech

__all__ = ["router"]

router = APIRouter(tags=["classifiers"])

PredictAudio = audio_upload("classifier_predict")
DetectAudio = audio_upload("classifier_detect")

_DEFAULTS = TrainConfig()
ReportFormat = Literal["json", "markdown", "html"]
ReportFile = Literal["confusion.png", "curves.png", "report.md", "report.json"]


class ClassifierSummary(BaseModel):
    name: str
    versions: int
    served: str
    stage: str
    arch: str
    labels: list[str]
    metrics: dict[str, object]


def _service(services: Services, namespace: str) -> ClassifierService:
    return ClassifierService(services, namespace)


def _limits(services: Services) -> ArchiveLimits:
    return ArchiveLimits.from_settings(services.settings)


async def _dataset_from_upload(service: ClassifierService, upload: UploadFile, work: Path) -> Path:
    archive = work / "upload.zip"
    with archive.open("wb") as sink:
        shutil.copyfileobj(upload.file, sink, length=1 << 20)
    limits = _limits(service.services)
    return await service.services.manager.run(extract_archive, archive, work / "dataset", limits)


@router.post("/v1/classifiers", response_model=Job)
async def train_classifier(
    services: ServicesDep,
    namespace: NamespaceDep,
    name: Annotated[str, Form()],
    arch: Annotated[Architecture, Form()] = "transfer",
    dataset: Annotated[
        UploadFile | None, File(description="A zip: folder per class or manifest.csv")
    ] = None,
    path: Annotated[
        str | None, Form(description="A dataset folder or manifest on the server")
    ] = None,
    max_epochs: Annotated[int, Form()] = _DEFAULTS.max_epochs,
    patience: Annotated[int, Form()] = _DEFAULTS.patience,
    batch_size: Annotated[int, Form()] = _DEFAULTS.batch_size,
    learning_rate: Annotated[float, Form()] = _DEFAULTS.learning_rate,
    weight_decay: Annotated[float, Form()] = _DEFAULTS.weight_decay,
    dropout: Annotated[float, Form()] = _DEFAULTS.dropout,
    validation_fraction: Annotated[float, Form()] = _DEFAULTS.validation_fraction,
    augment_copies: Annotated[int, Form()] = _DEFAULTS.augment_copies,
    seed: Annotated[int, Form()] = _DEFAULTS.seed,
    quantize: Annotated[bool, Form()] = _DEFAULTS.quantize,
    refit: Annotated[
        bool, Form(description="Retrain on every example for the epochs early stopping chose")
    ] = _DEFAULTS.refit,
    augment: Annotated[
        str, Form(description="Recipe of the augmented copies: basic | voices")
    ] = _DEFAULTS.augment,
    encoder_layers: Annotated[
        str,
        Form(
            description="transfer / multimodal: the Whisper-encoder layers pooled: last | all "
            "| comma-separated layer numbers 1-4, side by side; numbers joined by + are "
            "averaged (all or 2+3+last suit tone of voice, such as emotion)"
        ),
    ] = _DEFAULTS.encoder_layers,
    mixup: Annotated[
        float,
        Form(
            description="transfer / multimodal: mixup's Beta alpha over pairs of training "
            "embeddings, 0 to 1 (0: off)"
        ),
    ] = _DEFAULTS.mixup,
) -> Job:
    """Start training a new version of ``name``; poll ``GET /v1/jobs/{id}`` for progress."""
    config = TrainConfig(
        arch, max_epochs, patience, batch_size, learning_rate, weight_decay, dropout,
        validation_fraction, augment_copies, seed, quantize, refit, augment,  # type: ignore[arg-type]
        encoder_layers, mixup,
    )  # fmt: skip
    service = _service(services, namespace)
    if (dataset is None) == (path is None):
        raise InvalidParameter("Send exactly one of 'dataset' (a zip) or 'path'.", param="dataset")
    check_name(name)
    service.check_name_free(name)
    config.validate()
    roots, source = None, Path()
    if path is not None:  # a server folder: only under TYMPAN_DATASET_ROOTS, before any work
        roots = services.settings.dataset_roots
        source = confine_path(path, roots)
    work = service.new_work_folder()
    try:
        if dataset is not None:
            source = await _dataset_from_upload(service, dataset, work)
        loaded = await services.manager.run(load_dataset, source, roots)
        return service.submit_training(name, loaded, config, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


@router.get("/v1/classifiers", response_model=list[ClassifierSummary])
def list_classifiers(services: ServicesDep, namespace: NamespaceDep) -> list[ClassifierSummary]:
    """Every classifier of the caller's namespace with its served version."""
    service = _service(services, namespace)
    summaries = []
    for name in service.names():
        versions = service.versions(name)
        served = served_version(versions)
        summaries.append(
            ClassifierSummary(
                name=name,
                versions=len(versions),
                served=served.ref,
                stage=served.stage,
                arch=served.arch,
                labels=served.labels,
                metrics=served.metrics,
            )
        )
    return summaries


@router.get("/v1/classifiers/{name}/versions", response_model=list[ClassifierVersion])
def list_versions(
    name: str, services: ServicesDep, namespace: NamespaceDep
) -> list[ClassifierVersion]:
    """Every version of ``name`` with metrics, fingerprint, config and artifact checksums."""
    return _service(services, namespace).versions(name)


def _report(service: ClassifierService, name: str, version: int | None, fmt: str):  # type: ignore[no-untyped-def]
    if fmt == "markdown":
        return PlainTextResponse(
            service.artifact(name, version, "report.md").read_text(), media_type="text/markdown"
        )
    report = json.loads(service.artifact(name, version, "report.json").read_text())
    if fmt == "html":
        number = service.get(name, version).version
        return HTMLResponse(report_html(report, f"/v1/classifiers/{name}/versions/{number}/"))
    return report


@router.get("/v1/classifiers/{name}/report")
def served_report(
    name: str,
    services: ServicesDep,
    namespace: NamespaceDep,
    format: ReportFormat = "json",
) -> object:
    """The evaluation report of the served version."""
    return _report(_service(services, namespace), name, None, format)


@router.get("/v1/classifiers/{name}/versions/{version}/report")
def version_report(
    name: str,
    version: int,
    services: ServicesDep,
    namespace: NamespaceDep,
    format: ReportFormat = "json",
) -> object:
    """The evaluation report of one version (JSON, or markdown whose images sit beside it)."""
    return _report(_service(services, namespace), name, version, format)


@router.get("/v1/classifiers/{name}/versions/{version}/{file}")
def version_file(
    name: str, version: int, file: ReportFile, services: ServicesDep, namespace: NamespaceDep
) -> FileResponse:
    """A report file of a version: ``confusion.png``, ``curves.png``, ``report.md``/``.json``."""
    return FileResponse(_service(services, namespace).artifact(name, version, file))


@router.get("/v1/classifiers/{name}/versions/{version}/misclassified/{index}")
def misclassified_clip(
    name: str, version: int, index: int, services: ServicesDep, namespace: NamespaceDep
) -> FileResponse:
    """The ``index``-th misclassified validation clip the version's report lists (to play)."""
    service = _service(services, namespace)
    report = json.loads(service.artifact(name, version, "report.json").read_text())
    clips = report.get("misclassified", [])
    if not 0 <= index < len(clips):
        raise ResourceNotFound(
            f"{name}:{version} keeps {len(clips)} misclassified clips; no clip {index}.",
            param="index",
        )
    return FileResponse(service.artifact(name, version, clips[index]["file"]))


class PromoteRequest(BaseModel):
    version: int
    stage: Literal["staging", "production", "archived"] = "production"


@router.post("/v1/classifiers/{name}/promote", response_model=ClassifierVersion)
def promote(
    name: str, request: PromoteRequest, services: ServicesDep, namespace: NamespaceDep
) -> ClassifierVersion:
    """Move a version to a stage; production retires the previous production version."""
    return _service(services, namespace).promote(name, request.version, request.stage)


@router.post("/v1/classifiers/{name}/rollback", response_model=ClassifierVersion)
def rollback(name: str, services: ServicesDep, namespace: NamespaceDep) -> ClassifierVersion:
    """Restore the previous production version."""
    return _service(services, namespace).rollback(name)


def _with_encoder(services: Services, fn, handle, *args):  # type: ignore[no-untyped-def]
    """Call ``fn(handle, encoder_or_None, *args)``, leasing the encoder for the networks over
    encoder embeddings (``transfer``, ``multimodal``)."""
    if handle.meta.frames is not None:
        return fn(handle, None, *args)
    with services.manager.use(ENCODER_MODEL_ID) as encoder:
        return fn(handle, encoder.handle, *args)


@router.post("/v1/classifiers/{name}/predict", response_model=Prediction)
async def predict(
    name: str,
    audio: PredictAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    version: Annotated[int | None, Form()] = None,
    top_k: Annotated[int, Form(ge=1, le=100)] = 3,
) -> Prediction:
    """The most probable labels of the uploaded clip; a ``multimodal`` classifier also reads
    what the clip says (the bundled ASR, through its batching queue) and shows the transcript."""
    chosen = _service(services, namespace).get(name, version)
    ref, transcript = chosen.ref, None
    if chosen.arch == "multimodal":
        transcriber = transcriber_for(services.manager, services.settings)
        transcript = await transcribe_clip(transcriber, audio)
    return await services.manager.infer(
        ref,
        lambda handle: _with_encoder(
            services,
            lambda h, e: classify(ref, h, audio, e, top_k, services.drift, transcript),
            handle,
        ),
        task=CLASSIFIER_TASK,
    )


@router.get("/v1/classifiers/{name}/drift", response_model=DriftReport)
def drift(
    name: str, services: ServicesDep, namespace: NamespaceDep, version: int | None = None
) -> DriftReport:
    """Whether the clips a version classified lately still look like its validation clips."""
    return _service(services, namespace).drift(name, version)


@router.post("/v1/classifiers/{name}/detect", response_model=DetectionResult)
async def detect(
    name: str,
    audio: DetectAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    version: Annotated[int | None, Form()] = None,
    threshold: Annotated[float, Form(ge=0, le=1)] = 0.5,
    vad_threshold: Annotated[float, Form(gt=0, lt=1)] = 0.5,
) -> DetectionResult:
    """Timed events in long audio: VAD finds speech, the classifier labels it."""
    ref = _service(services, namespace).get(name, version).ref
    max_windows = services.settings.max_detect_windows
    vad_options = VadOptions(threshold=vad_threshold, min_speech_ms=100, min_silence_ms=150)
    speech = await services.manager.infer(
        SILERO_MODEL_ID, lambda model: detect_speech(audio, "silero", vad_options, model)
    )
    return await services.manager.infer(
        ref,
        lambda handle: _with_encoder(
            services,
            lambda h, e: detect_events(
                ref, h, audio, speech.segments, e, threshold, max_windows=max_windows
            ),
            handle,
        ),
        task=CLASSIFIER_TASK,
    )


@router.post("/v1/classifiers/{name}/examples", response_model=ExamplesResult)
async def add_examples(
    name: str,
    services: ServicesDep,
    namespace: NamespaceDep,
    label: Annotated[str, Form()],
    files: Annotated[list[UploadFile], File()],
    version: Annotated[int | None, Form()] = None,
) -> ExamplesResult:
    """Add labelled examples (also of a new label): a new version from a head refit."""
    service = _service(services, namespace)
    service.get(name, version)  # 404 before decoding anything
    audios = await decode_uploads(files, services, "files")
    return await services.manager.run(service.add_examples, name, label, audios, version)
