"""FastAPI dependencies: services, auth, and the audio upload that crosses the boundary."""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, File, UploadFile
from starlette.requests import HTTPConnection

from tympan.api.services import Services
from tympan.audio import Audio, decode_audio
from tympan.errors import AuthenticationFailed, InvalidAudio, PayloadTooLarge, UnsupportedMedia

__all__ = [
    "WEBSOCKET_KEY_PREFIX",
    "AudioUpload",
    "ServicesDep",
    "authenticate",
    "decode_upload",
    "get_services",
]


def get_services(connection: HTTPConnection) -> Services:
    """The ``Services`` of the running app (for HTTP requests and WebSockets alike)."""
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


WEBSOCKET_KEY_PREFIX = "openai-insecure-api-key."
"""Browsers cannot set headers on a WebSocket, so OpenAI's clients send the key as a
subprotocol ``openai-insecure-api-key.<key>``."""


def _presented_key(connection: HTTPConnection) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return token
    if connection.scope["type"] == "websocket":
        for offered in connection.headers.get("sec-websocket-protocol", "").split(","):
            if offered.strip().startswith(WEBSOCKET_KEY_PREFIX):
                return offered.strip().removeprefix(WEBSOCKET_KEY_PREFIX)
    return None


def authenticate(connection: HTTPConnection, services: ServicesDep) -> None:
    """Require ``Authorization: Bearer <key>`` (or, on a WebSocket, the key subprotocol)
    when API keys are configured."""
    keys = services.settings.api_keys
    if not keys or connection.url.path == "/healthz":
        return
    token = _presented_key(connection)
    if token is None or not any(hmac.compare_digest(token.encode(), key.encode()) for key in keys):
        raise AuthenticationFailed("Missing or invalid API key (Authorization: Bearer ...).")


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
