"""SDK methods for live transcription over ``/v1/realtime`` (OpenAI's Realtime protocol).

    async for event in tympan.listen("meeting.flac", speakers=True):
        if event["type"].endswith("transcription.completed"):
            print(event["speaker"], event["transcript"])

A file is decoded here (the audio boundary) and played to the server as 16 kHz PCM at
``speed`` times real time; an async iterable of 16 kHz 16-bit mono PCM (a microphone) is sent
as it comes. The iterator yields every server event (OpenAI's JSON) and ends once the last
turn is transcribed. Remote clients use a WebSocket; in-process ones the app's test socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, Protocol

import numpy as np

from tympan.audio import decode_audio
from tympan.client._base import BaseClient, FileInput
from tympan.config import SAMPLE_RATE
from tympan.errors import error_for_status

__all__ = ["RealtimeMethods"]

_CHUNK_SECONDS = 0.1
_FINAL_COMMIT = "tympan_final_commit"
_PATH = "/v1/realtime?intent=transcription"


class _Socket(Protocol):
    async def send(self, text: str) -> None: ...
    async def recv(self) -> str: ...


class _InProcessSocket:
    """The in-process app's (synchronous) test WebSocket, used from a worker thread."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def send(self, text: str) -> None:
        await asyncio.to_thread(self._session.send_text, text)

    async def recv(self) -> str:
        return await asyncio.to_thread(self._session.receive_text)


async def _pcm_chunks(audio: FileInput, speed: float | None) -> AsyncIterator[bytes]:
    """A file's 16 kHz PCM in 100 ms chunks, paced at ``speed`` x real time (None: at once)."""
    samples = decode_audio(audio).samples
    data = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    step = round(SAMPLE_RATE * _CHUNK_SECONDS) * 2
    for start in range(0, len(data), step):
        yield data[start : start + step]
        if speed:
            await asyncio.sleep(_CHUNK_SECONDS / speed)


class _Progress:
    """Which turns are still owed a transcript, and whether the final commit was answered."""

    def __init__(self) -> None:
        self.stopped: set[str] = set()
        self.pending: set[str] = set()
        self.final_answered = False

    def see(self, event: dict[str, Any]) -> None:
        kind, item = event["type"], event.get("item_id")
        if kind == "input_audio_buffer.speech_stopped":
            self.stopped.add(item)
        elif kind == "input_audio_buffer.committed":
            self.pending.add(item)
            self.final_answered |= item not in self.stopped  # a commit server VAD did not make
        elif kind.endswith("transcription.completed") or kind.endswith("transcription.failed"):
            self.pending.discard(item)
        elif kind == "error" and event["error"].get("event_id") == _FINAL_COMMIT:
            self.final_answered = True  # nothing was left to commit

    @property
    def done(self) -> bool:
        return self.final_answered and not self.pending


class RealtimeMethods(BaseClient):
    """``/v1/realtime``: live transcription events as an async iterator."""

    @contextlib.asynccontextmanager
    async def _realtime_socket(self) -> AsyncIterator[_Socket]:
        headers = {k: v for k, v in self._http.headers.items() if k.lower() == "authorization"}
        if hasattr(self._http, "websocket_connect"):  # the in-process app
            with self._http.websocket_connect(_PATH, headers=headers) as session:
                yield _InProcessSocket(session)
            return
        from websockets.asyncio.client import connect

        base = str(self._http.base_url).rstrip("/")
        url = base.replace("https://", "wss://").replace("http://", "ws://") + _PATH
        async with connect(url, additional_headers=headers, max_size=None) as socket:
            yield socket

    async def listen(
        self,
        audio: FileInput | AsyncIterable[bytes],
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        speakers: bool = False,
        speed: float | None = 1.0,
        silence_ms: int = 500,
        eagerness: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every server event of a live transcription of ``audio``, until its last turn.

        ``speed`` paces a file (1.0 = real time, None = as fast as the server accepts it);
        ``silence_ms`` of silence ends a turn, or with ``eagerness`` (``low``, ``medium``,
        ``high``, ``auto``) semantic VAD does: a turn ends when its text sounds finished. A
        refused session raises its ``TympanError``.
        """
        detection: dict[str, Any] = {"type": "server_vad", "silence_duration_ms": silence_ms}
        if eagerness is not None:
            detection = {"type": "semantic_vad", "eagerness": eagerness}
        async with self._realtime_socket() as socket:
            created = json.loads(await socket.recv())
            _raise_if_error(created)
            session = {
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                        "transcription": {"model": model, "language": language, "prompt": prompt},
                        "turn_detection": detection,
                    }
                },
                "speakers": speakers,
            }
            await socket.send(json.dumps({"type": "session.update", "session": session}))
            _raise_if_error(json.loads(await socket.recv()))
            chunks = audio if isinstance(audio, AsyncIterable) else _pcm_chunks(audio, speed)
            sender = asyncio.create_task(_send_audio(socket, chunks))
            progress = _Progress()
            try:
                while not progress.done:
                    event = json.loads(await socket.recv())
                    progress.see(event)
                    yield event
                await sender
            finally:
                sender.cancel()


async def _send_audio(socket: _Socket, chunks: AsyncIterable[bytes]) -> None:
    async for chunk in chunks:
        event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
        await socket.send(json.dumps(event))
    await socket.send(json.dumps({"type": "input_audio_buffer.commit", "event_id": _FINAL_COMMIT}))


_STATUSES = (400, 401, 403, 404, 409, 413, 429, 503)


def _raise_if_error(event: dict[str, Any]) -> None:
    """Raise the ``TympanError`` an ``error`` event stands for (found by its code)."""
    if event.get("type") != "error":
        return
    body = {"error": event["error"]}
    errors = [error_for_status(status, body) for status in _STATUSES]
    raise next((e for e in errors if type(e).code == e.code), errors[0])
