"""FastAPI dependencies: services, the caller's namespace, the audio upload at the boundary."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, File, Form, Request, UploadFile
from starlette.requests import HTTPConnection

from tympan.api.security import caller_of
from tympan.api.services import Services
from tympan.audio import Audio, decode_audio
from tympan.budgets import SecondsBudget, check_budget, setting_variable
from tympan.errors import (
    AudioTooLong,
    InvalidAudio,
    PayloadTooLarge,
    UnsupportedMedia,
    UploadTooLarge,
)
from tympan.metrics import observe_audio
from tympan.tasks.enhancement import noise_reduction_policy, reduce_noise

__all__ = [
    "AudioUpload",
    "NamespaceDep",
    "ServicesDep",
    "decode_upload",
    "decode_uploads",
    "get_services",
    "request_namespace",
]


def get_services(connection: HTTPConnection) -> Services:
    """The ``Services`` of the running app (for HTTP requests and WebSockets alike)."""
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def request_namespace(request: Request) -> str:
    """The namespace of the request's speakers and classifiers (its API key's)."""
    return caller_of(request.scope).namespace


NamespaceDep = Annotated[str, Depends(request_namespace)]


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
    settings = services.settings
    max_seconds = settings.max_audio_seconds
    if budget is not None:
        max_seconds = min(max_seconds, budget.remaining)
    upload.file.seek(0)
    try:
        audio = await services.manager.run(
            decode_audio,
            upload.file,
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
    if upload.filename:
        audio = replace(audio, source=replace(audio.source, name=upload.filename))
    return audio


def _naming(error: PayloadTooLarge, setting: str, param: str) -> PayloadTooLarge:
    """``error`` for field ``param``, its message naming the limit's setting."""
    message = f"{error.message.rstrip('.')} ({setting_variable(setting)})."
    return type(error)(message, param=param)


async def decode_uploads(uploads: list[UploadFile], services: Services, param: str) -> list[Audio]:
    """Decode every file of a request: at most ``max_request_files`` files (422) adding up to
    at most ``max_request_audio_seconds`` (413, enforced while decoding)."""
    check_budget(
        services.settings, "max_request_files", len(uploads), "files", param=param, status=422
    )
    budget = SecondsBudget.of(services.settings, "max_request_audio_seconds")
    return [await decode_upload(upload, services, param, budget) for upload in uploads]


async def _audio_upload(
    services: ServicesDep,
    file: UploadFile = File(...),
    noise_reduction: str | None = Form(
        None,
        description="none, auto, near_field, far_field or an enhancement model id "
        "(default: TYMPAN_NOISE_REDUCTION; see docs/enhancement.md).",
    ),
) -> Audio:
    audio = await decode_upload(file, services)
    choice = noise_reduction or services.settings.noise_reduction
    policy = noise_reduction_policy(services.settings)
    return await reduce_noise(services.manager, policy, audio, choice)


AudioUpload = Annotated[Audio, Depends(_audio_upload)]
"""The request's ``file`` field, decoded at the boundary into ``Audio`` and enhanced as its
``noise_reduction`` field asks."""
