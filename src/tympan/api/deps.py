"""FastAPI dependencies: services, the caller's namespace, the audio upload at the boundary."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import replace
from typing import Annotated, Any, BinaryIO

from fastapi import Depends, File, Form, Request, UploadFile
from starlette.requests import HTTPConnection

from tympan.api.security import caller_of
from tympan.api.services import Services
from tympan.audio import Audio, decode_audio
from tympan.budgets import SecondsBudget, check_budget, setting_variable
from tympan.errors import (
    AudioTooLong,
    InvalidAudio,
    InvalidParameter,
    ModelNotFound,
    PayloadTooLarge,
    UnsupportedMedia,
    UploadTooLarge,
)
from tympan.metrics import observe_audio
from tympan.models.spec import ModelSpec
from tympan.tasks.enhancement import NOISE_REDUCTION_POLICY, reduce_noise

__all__ = [
    "KnownSpeakersDep",
    "NamespaceDep",
    "NoiseReductionField",
    "ServicesDep",
    "audio_upload",
    "decode_upload",
    "decode_uploads",
    "get_services",
    "model_visible",
    "reduce_upload_noise",
    "request_namespace",
    "require_visible_model",
]


def get_services(connection: HTTPConnection) -> Services:
    """The ``Services`` of the running app (for HTTP requests and WebSockets alike)."""
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def request_namespace(request: Request) -> str:
    """The namespace of the request's speakers and classifiers (its API key's)."""
    return caller_of(request.scope).namespace


NamespaceDep = Annotated[str, Depends(request_namespace)]


def model_visible(spec: ModelSpec, namespace: str) -> bool:
    """Bundled models are everyone's; a trained one (classifier, fine-tuned Whisper) belongs
    to its namespace."""
    return spec.options.get("namespace", namespace) == namespace


def require_visible_model(services: Services, model_id: str | None, namespace: str) -> None:
    """``ModelNotFound`` (404) for a model of another namespace, as if it did not exist.

    Ids the registry does not know pass: the task answers them (404, or an OpenAI name routed).
    """
    try:
        spec = services.registry.get(model_id) if model_id else None
    except ModelNotFound:
        return
    if spec is not None and not model_visible(spec, namespace):
        raise ModelNotFound(f"No model named {model_id!r}.", param="model")


async def decode_upload(
    upload: UploadFile,
    services: Services,
    param: str = "file",
    budget: SecondsBudget | None = None,
) -> Audio:
    """Decode an uploaded file in the inference pool, under the configured limits.

    Errors name ``param``, the form field the file came in (``file``, ``file2``, ...), and the
    ``TYMPAN_`` setting of the limit that refused it. With a request-wide ``budget`` (files x
    seconds) the file may only decode to what is left of it.
    """
    upload.file.seek(0)
    audio = await _decode(upload.file, services, param, budget)
    if upload.filename:
        audio = replace(audio, source=replace(audio.source, name=upload.filename))
    return audio


async def _decode(
    source: BinaryIO, services: Services, param: str, budget: SecondsBudget | None
) -> Audio:
    settings = services.settings
    max_seconds = settings.max_audio_seconds
    if budget is not None:
        max_seconds = min(max_seconds, budget.remaining)
    try:
        audio = await services.manager.run(
            decode_audio,
            source,
            max_seconds=max_seconds,
            max_bytes=settings.max_upload_bytes,
        )
    except AudioTooLong as exc:
        if budget is not None and max_seconds < settings.max_audio_seconds:
            raise budget.refusal(param=param) from None
        raise _naming(exc, "max_audio_seconds", param) from None
    except UploadTooLarge as exc:
        raise _naming(exc, "max_upload_bytes", param) from None
    except (InvalidAudio, PayloadTooLarge, UnsupportedMedia) as exc:
        exc.param = param
        raise
    if budget is not None:
        budget.spend(audio.duration, param=param)
    observe_audio(audio.duration)
    return audio


def _naming(error: PayloadTooLarge, setting: str, param: str) -> PayloadTooLarge:
    """``error`` for field ``param``, its message naming the limit's setting."""
    message = f"{error.message.rstrip('.')} ({setting_variable(setting)})."
    return type(error)(message, param=param)


async def decode_uploads(uploads: list[UploadFile], services: Services, param: str) -> list[Audio]:
    """Decode every file of a request: at most ``max_request_files`` files (400) adding up to
    at most ``max_request_audio_seconds`` (413, enforced while decoding)."""
    check_budget(
        services.settings, "max_request_files", len(uploads), "files", param=param, status=400
    )
    budget = SecondsBudget.of(services.settings, "max_request_audio_seconds")
    return [await decode_upload(upload, services, param, budget) for upload in uploads]


NoiseReductionField = Annotated[
    str | None,
    Form(
        description="none, auto, near_field, far_field or an enhancement model id "
        "(default: TYMPAN_NOISE_REDUCTION; see docs/enhancement.md).",
    ),
]
"""A request's ``noise_reduction`` form field."""


async def reduce_upload_noise(
    audio: Audio, services: Services, choice: str | None, task: str
) -> Audio:
    """``audio`` enhanced before ``task`` as a request's ``noise_reduction`` field asks
    (``None``: the TYMPAN_NOISE_REDUCTION default), for endpoints with files besides ``file``."""
    chosen = choice or services.settings.noise_reduction
    return await reduce_noise(services.manager, NOISE_REDUCTION_POLICY, audio, chosen, task)


def audio_upload(task: str) -> Any:
    """The type of a request's ``file`` field for ``task`` (a name of the noise policy's
    ``TASK_FAMILIES``): decoded at the boundary into ``Audio`` and enhanced as its
    ``noise_reduction`` field asks, ``auto`` following ``task``'s family."""

    async def upload(
        services: ServicesDep,
        file: UploadFile = File(...),
        noise_reduction: NoiseReductionField = None,
    ) -> Audio:
        audio = await decode_upload(file, services)
        return await reduce_upload_noise(audio, services, noise_reduction, task)

    return Annotated[Audio, Depends(upload)]


REFERENCE_SECONDS = (2.0, 10.0)
"""How long each ``known_speaker_references[]`` clip may be, as OpenAI documents it."""


async def _known_speakers(
    services: ServicesDep,
    names: list[str] | None = Form(
        None,
        alias="known_speaker_names[]",
        description="Names of the speakers in known_speaker_references[], in the same order.",
    ),
    references: list[str] | None = Form(
        None,
        alias="known_speaker_references[]",
        description="Data URLs of 2-10 s clips (any audio format), one per known speaker name.",
    ),
) -> list[tuple[str, Audio]]:
    """The request's known speakers: (name, decoded reference clip) pairs.

    At most ``max_request_files`` of them (400), adding up to at most
    ``max_request_audio_seconds`` of audio (413), each 2-10 s long (400).
    """
    names, references = names or [], references or []
    if len(names) != len(references):
        raise InvalidParameter(
            f"known_speaker_names[] has {len(names)} entries and known_speaker_references[] "
            f"{len(references)}: give one reference clip per name.",
            param="known_speaker_references[]",
        )
    if len({name.strip().casefold() for name in names}) != len(names) or not all(
        name.strip() for name in names
    ):
        raise InvalidParameter(
            "known_speaker_names[] must be distinct, non-empty names.",
            param="known_speaker_names[]",
        )
    param = "known_speaker_references[]"
    check_budget(
        services.settings,
        "max_request_files",
        len(names),
        "known speakers",
        param=param,
        status=400,
    )
    budget = SecondsBudget.of(services.settings, "max_request_audio_seconds")
    known = []
    for name, reference in zip(names, references, strict=True):
        audio = await _decode(
            io.BytesIO(_data_url_bytes(reference, param)), services, param, budget
        )
        shortest, longest = REFERENCE_SECONDS
        if not shortest <= audio.duration <= longest:
            raise InvalidParameter(
                f"The reference clip of {name!r} is {audio.duration:.1f} s long; known speaker "
                f"references must be {shortest:g}-{longest:g} s.",
                param=param,
            )
        known.append((name.strip(), audio))
    return known


def _data_url_bytes(value: str, param: str) -> bytes:
    """The payload of a base64 ``data:`` URL (the only kind OpenAI's field takes)."""
    header, comma, payload = value.partition(",")
    if not (header.startswith("data:") and header.endswith(";base64") and comma):
        raise InvalidParameter(
            "Each known speaker reference must be a base64 data URL (data:audio/wav;base64,...).",
            param=param,
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameter(
            "A known speaker reference is not valid base64.", param=param
        ) from None


KnownSpeakersDep = Annotated[list[tuple[str, Audio]], Depends(_known_speakers)]
"""``known_speaker_names[]`` with their decoded ``known_speaker_references[]`` clips."""
