"""``WS /v1/realtime?intent=transcription``: OpenAI's Realtime transcription over a WebSocket.

A thin adapter over the streaming core: client events (``session.update``,
``transcription_session.update``, ``input_audio_buffer.append|commit|clear``) become
``LiveSession`` calls, and the session's events go back as OpenAI server events. A bad event
gets an ``error`` event and the session goes on; the session limit, the session length limit
and a closed socket end it cleanly. Auth is the service's (bearer header or the
``openai-insecure-api-key.`` subprotocol), checked by the app's guard before the handshake;
enrolled speakers are those of the key's namespace.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from tympan.api.deps import ServicesDep, require_visible_model
from tympan.api.realtime_protocol import (
    error_event,
    new_event_id,
    served_model,
    server_event,
    session_body,
    session_options,
)
from tympan.api.security import caller_of
from tympan.errors import BadRequest, InvalidParameter, Overloaded, TympanError
from tympan.tasks.streaming import LiveOptions, LiveSession, live_engine

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["realtime"])

_CLOSE_TRY_AGAIN = 1013  # RFC 6455: server overloaded, try again later
_CLOSE_POLICY = 1008  # RFC 6455: policy violation (a limit was reached)
_KEY_SUBPROTOCOL = "openai-insecure-api-key."  # carries a browser's key; never echoed back


def _subprotocol(websocket: WebSocket) -> str | None:
    """The subprotocol to accept: ``realtime`` when offered (browsers require an answer)."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    plain = [p for p in offered if p and not p.startswith(_KEY_SUBPROTOCOL)]
    return "realtime" if "realtime" in plain else (plain[0] if plain else None)


class _Connection:
    """One client's socket and live session."""

    def __init__(self, websocket: WebSocket, session: LiveSession) -> None:
        self.websocket = websocket
        self.session = session
        self.session_id = "sess_" + uuid.uuid4().hex[:20]

    async def send(self, body: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(body))

    async def send_session(self, kind: str) -> None:
        body = session_body(self.session.options, self.session_id, self.session.model_id)
        await self.send({"type": kind, "event_id": new_event_id(), "session": body})

    async def forward_events(self) -> None:
        """Send every session event; close the socket when the session has ended."""
        async for event in self.session.events():
            await self.send(server_event(event))
            if self.session.ended:
                await self.websocket.close(_CLOSE_POLICY, "session limit reached")
                return

    async def handle(self, message: dict[str, Any]) -> None:
        """Act on one client message (a ``TympanError`` becomes an error event)."""
        if "text" not in message or message["text"] is None:
            raise BadRequest("Send JSON text messages; binary frames are not accepted.")
        try:
            event = json.loads(message["text"])
        except json.JSONDecodeError as exc:
            raise BadRequest(f"The message is not valid JSON: {exc}.", code="invalid_json") from exc
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadRequest("An event is a JSON object with a string 'type'.", param="type")
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        try:
            await self._dispatch(event, event_id)
        except TympanError as exc:
            await self.send(error_event(exc, event_id))

    async def _dispatch(self, event: dict[str, Any], event_id: str | None) -> None:
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            beta = kind == "transcription_session.update"
            options = session_options(event.get("session"), self.session.options, beta=beta)
            await self.session.configure(options)
            await self.send_session("transcription_session.updated" if beta else "session.updated")
        elif kind == "input_audio_buffer.append":
            self.session.append(_audio_bytes(event.get("audio")), event_id)
        elif kind == "input_audio_buffer.commit":
            self.session.commit(event_id)
        elif kind == "input_audio_buffer.clear":
            self.session.clear(event_id)
        else:
            raise BadRequest(
                f"Unknown or unsupported event type {kind!r} in a transcription session.",
                param="type",
                code="invalid_event_type",
            )


def _audio_bytes(audio: object) -> bytes:
    if not isinstance(audio, str):
        raise InvalidParameter("audio must be a base64 string.", param="audio")
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameter(
            "audio is not valid base64.", param="audio", code="invalid_base64"
        ) from exc


async def _refuse(websocket: WebSocket, error: TympanError) -> None:
    await websocket.send_text(json.dumps(error_event(error)))
    code = _CLOSE_TRY_AGAIN if isinstance(error, Overloaded) else _CLOSE_POLICY
    await websocket.close(code, error.code)


@router.websocket("/v1/realtime")
async def realtime(
    websocket: WebSocket,
    services: ServicesDep,
    intent: str | None = None,
    model: str | None = None,
) -> None:
    """OpenAI Realtime transcription session (``intent=transcription``; ``model`` optional)."""
    await websocket.accept(subprotocol=_subprotocol(websocket))
    engine = live_engine(services.manager, services.settings, services.db)
    try:
        if intent not in (None, "transcription"):
            raise InvalidParameter(
                "Tympan serves transcription sessions only: connect with ?intent=transcription.",
                param="intent",
            )
        namespace = caller_of(websocket.scope).namespace
        require_visible_model(services, model, namespace)
        session = await LiveSession.open(
            engine, LiveOptions(model=served_model(model)), namespace=namespace
        )
    except TympanError as exc:
        await _refuse(websocket, exc)
        return
    connection = _Connection(websocket, session)
    sender: asyncio.Task[None] | None = None
    try:
        await connection.send_session("session.created")
        sender = asyncio.create_task(connection.forward_events())
        while not session.ended:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                await connection.handle(message)
            except TympanError as exc:
                await connection.send(error_event(exc))
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away (or the socket closed under a send)
    finally:
        await session.close()
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
