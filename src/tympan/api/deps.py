"""FastAPI dependencies: services, the caller's namespace, the audio upload at the boundary."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, File, Request, UploadFile

from tympan.api.security import caller_of
from tympan.api.services import Services
from tympan.audio import Audio, decode_audio
from tympan.errors import InvalidAudio, PayloadTooLarge, UnsupportedMedia

__all__ = [
    "AudioUpload",
    "NamespaceDep",
    "ServicesDep",
    "decode_upload",
    "get_services",
    "request_namespace",
]


def get_services(request: Request) -> Services:
    """The ``Services`` of the running app."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def request_namespace(request: Request) -> str:
    """The namespace of the request's speakers and classifiers (its API key's)."""
    return caller_of(request.scope).namespace


NamespaceDep = Annotated[str, Depends(request_namespace)]


async def decode_upload(upload: UploadFile, services: Services, param: str = "file") -> Audio:
    """Decode an uploaded file in the inference pool, under the configured limits.

    Errors name ``param``, the form field the file came in (``file``, ``file2``, ...).
    """
    settings = services.settings
    upload.file.seek(0)
    try:
        audio = await services.manager.run(
            decode_audio,
            upload.file,
            max_seconds=settings.max_audio_seconds,
            max_bytes=settings.max_upload_bytes,
        )
    except (InvalidAudio, PayloadTooLarge, UnsupportedMedia) as exc:
        exc.param = param
        raise
    if upload.filename:
        audio = replace(audio, source=replace(audio.source, name=upload.filename))
    return audio


async def _audio_upload(services: ServicesDep, file: UploadFile = File(...)) -> Audio:
    return await decode_upload(file, services)


AudioUpload = Annotated[Audio, Depends(_audio_upload)]
"""The request's ``file`` field, decoded at the boundary into ``Audio``."""
