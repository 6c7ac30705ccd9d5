"""OpenAI's Realtime transcription protocol: session configs in, live events out, as JSON.

``session_options`` reads a GA ``session.update`` (``type: "transcription"``,
``audio.input.{format, transcription, turn_detection}``, ``include``) or a beta
``transcription_session.update`` (``input_audio_format``, ``input_audio_transcription``, ...)
into ``LiveOptions``; ``speakers: true`` is Tympan's extension. ``server_event`` renders a
``LiveEvent`` in the shape the ``openai`` package's ``types.realtime`` models read.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tympan.audio.stream import PcmFormat
from tympan.errors import InvalidParameter, TympanError
from tympan.tasks.asr.formats import logprob_entries
from tympan.tasks.streaming import (
    Cleared,
    Committed,
    LiveEvent,
    LiveOptions,
    SessionError,
    SpeakerSegment,
    SpeechStarted,
    SpeechStopped,
    TimeoutTriggered,
    TranscriptCompleted,
    TranscriptDelta,
    TranscriptFailed,
    TurnDetection,
)

__all__ = [
    "error_event",
    "new_event_id",
    "served_model",
    "server_event",
    "session_body",
    "session_options",
]

LOGPROBS = "item.input_audio_transcription.logprobs"
OPENAI_TRANSCRIBE_MODELS = frozenset(
    {
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
        "gpt-4o-transcribe-latest",
        "gpt-transcribe",
        "gpt-4o-transcribe-diarize",
    }
)
"""OpenAI's transcription models: a live session serves them with the default ASR model (a
turn is too short to route by language; set ``language`` or a multilingual model instead)."""
_OPENAI_REALTIME_PREFIXES = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime")


def served_model(name: str | None) -> str | None:
    """The ASR model a session asks for: ``None`` (the default) for OpenAI's model names, which
    clients send unchanged (the Node client even requires one in the URL)."""
    if name in OPENAI_TRANSCRIBE_MODELS or (name or "").startswith(_OPENAI_REALTIME_PREFIXES):
        return None
    return name


_FORMATS: dict[str, PcmFormat] = {
    "audio/pcm": PcmFormat("pcm16", 24_000),
    "audio/pcmu": PcmFormat("mulaw", 8_000),
    "audio/pcma": PcmFormat("alaw", 8_000),
}
_BETA_FORMATS = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}
_PCM_RATES = (16_000, 24_000)  # 24 kHz is OpenAI's; 16 kHz (no resampling) is Tympan's


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Format(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: int | None = None


class _Transcription(_Strict):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class _TurnDetection(_Strict):
    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    idle_timeout_ms: int | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


_SERVER_VAD_ONLY = ("threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms")


class _NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"]


class _Input(_Strict):
    format: _Format | None = None
    noise_reduction: _NoiseReduction | None = None
    transcription: _Transcription | None = None
    turn_detection: _TurnDetection | None = None


class _Audio(_Strict):
    input: _Input | None = None


class _Session(_Strict):
    """GA ``session`` of a transcription session (and Tympan's ``speakers``)."""

    type: Literal["transcription", "realtime"] = "transcription"
    audio: _Audio | None = None
    include: list[str] | None = None
    speakers: bool | None = None


class _BetaSession(_Strict):
    """Beta ``transcription_session.update``'s flat session."""

    input_audio_format: Literal["pcm16", "g711_ulaw", "g711_alaw"] | None = None
    input_audio_noise_reduction: _NoiseReduction | None = None
    input_audio_transcription: _Transcription | None = None
    turn_detection: _TurnDetection | None = None
    include: list[str] | None = None
    speakers: bool | None = None


def new_event_id() -> str:
    """An id in OpenAI's style for a server event."""
    return "event_" + uuid.uuid4().hex[:20]


def _invalid(exc: ValidationError, root: str) -> InvalidParameter:
    first = exc.errors()[0]
    where = ".".join([root, *(str(part) for part in first["loc"])])
    return InvalidParameter(f"{where}: {first['msg']}", param=where, code="invalid_value")


def _format(fmt: _Format) -> PcmFormat:
    chosen = _FORMATS[fmt.type]
    if fmt.type == "audio/pcm" and fmt.rate is not None:
        if fmt.rate not in _PCM_RATES:
            raise InvalidParameter(
                f"audio/pcm rate must be one of {_PCM_RATES}.",
                param="session.audio.input.format.rate",
                code="invalid_value",
            )
        chosen = replace(chosen, rate=fmt.rate)
    return chosen


def _turn_detection(given: _TurnDetection | None, root: str) -> TurnDetection | None:
    if given is None:
        return None
    values = given.model_dump(exclude_none=True)
    other_mode = ("eagerness",) if given.type == "server_vad" else _SERVER_VAD_ONLY
    for name in other_mode:
        if name in values:
            raise InvalidParameter(
                f"{name} is not a {given.type} setting.",
                param=f"{root}.{name}",
                code="invalid_value",
            )
    return TurnDetection(**values)


def _turn_detection_body(detection: TurnDetection | None) -> dict[str, Any] | None:
    if detection is None:
        return None
    if detection.semantic:
        return {"type": "semantic_vad", "eagerness": detection.eagerness}
    return {
        "type": "server_vad",
        "threshold": detection.threshold,
        "prefix_padding_ms": detection.prefix_padding_ms,
        "silence_duration_ms": detection.silence_duration_ms,
        "idle_timeout_ms": detection.idle_timeout_ms,
    }


def _apply(
    current: LiveOptions,
    *,
    fmt: PcmFormat | None,
    transcription: _Transcription | None,
    turn_detection: tuple[bool, TurnDetection | None],
    include: list[str] | None,
    speakers: bool | None,
) -> LiveOptions:
    options = current
    if fmt is not None:
        options = replace(options, format=fmt)
    if transcription is not None:
        given = transcription.model_dump(include=transcription.model_fields_set)
        if "model" in given:
            given["model"] = served_model(given["model"])
        options = replace(options, **{name: value or None for name, value in given.items()})
    given, detection = turn_detection
    if given:
        options = replace(options, turn_detection=detection)
    if include is not None:
        unknown = [item for item in include if item != LOGPROBS]
        if unknown:
            raise InvalidParameter(
                f"Unknown include value(s) {unknown}; only {LOGPROBS!r} is known.",
                param="session.include",
                code="invalid_value",
            )
        options = replace(options, logprobs=LOGPROBS in include)
    if speakers is not None:
        options = replace(options, speakers=speakers)
    return options


def session_options(session: Any, current: LiveOptions, *, beta: bool) -> LiveOptions:
    """``current`` updated by a client's session object (fields it leaves out are kept)."""
    if not isinstance(session, dict):
        raise InvalidParameter("session must be an object.", param="session", code="invalid_value")
    try:
        parsed = (_BetaSession if beta else _Session).model_validate(session)
    except ValidationError as exc:
        raise _invalid(exc, "session") from exc
    if isinstance(parsed, _BetaSession):
        fmt = None
        if parsed.input_audio_format is not None:
            fmt = _FORMATS[_BETA_FORMATS[parsed.input_audio_format]]
        detection = (
            "turn_detection" in session,
            _turn_detection(parsed.turn_detection, "session.turn_detection"),
        )
        transcription = parsed.input_audio_transcription
        noise = ("input_audio_noise_reduction" in session, parsed.input_audio_noise_reduction)
    else:
        if parsed.type != "transcription":
            raise InvalidParameter(
                "Tympan serves transcription sessions only: set session.type to "
                "'transcription' (connect with ?intent=transcription).",
                param="session.type",
                code="invalid_value",
            )
        given = parsed.audio.input if parsed.audio and parsed.audio.input else _Input()
        fmt = _format(given.format) if given.format is not None else None
        detection = (
            "turn_detection" in given.model_fields_set,
            _turn_detection(given.turn_detection, "session.audio.input.turn_detection"),
        )
        transcription = given.transcription
        noise = ("noise_reduction" in given.model_fields_set, given.noise_reduction)
    if noise[0]:
        current = replace(current, noise_reduction=noise[1].type if noise[1] else None)
    return _apply(
        current,
        fmt=fmt,
        transcription=transcription,
        turn_detection=detection,
        include=parsed.include,
        speakers=parsed.speakers,
    )


def _format_body(fmt: PcmFormat) -> dict[str, Any]:
    kind = {"pcm16": "audio/pcm", "mulaw": "audio/pcmu", "alaw": "audio/pcma"}[fmt.encoding]
    return {"type": kind, "rate": fmt.rate} if kind == "audio/pcm" else {"type": kind}


def session_body(options: LiveOptions, session_id: str, model_id: str) -> dict[str, Any]:
    """The session as ``session.created`` / ``session.updated`` show it (GA shape)."""
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": session_id,
        "audio": {
            "input": {
                "format": _format_body(options.format),
                "transcription": {
                    "model": model_id,
                    "language": options.language,
                    "prompt": options.prompt,
                },
                "turn_detection": _turn_detection_body(options.turn_detection),
                "noise_reduction": {"type": options.noise_reduction}
                if options.noise_reduction
                else None,
            }
        },
        "include": [LOGPROBS] if options.logprobs else [],
        "speakers": options.speakers,
    }


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def error_event(error: TympanError, event_id: str | None = None) -> dict[str, Any]:
    """OpenAI's ``error`` event: the error body, plus the client event it answers."""
    body = error.to_body()["error"]
    return {"type": "error", "event_id": new_event_id(), "error": {**body, "event_id": event_id}}


def server_event(event: LiveEvent) -> dict[str, Any]:
    """The OpenAI server event for a live event."""
    body: dict[str, Any]
    match event:
        case SpeechStarted(item_id, start):
            body = {
                "type": "input_audio_buffer.speech_started",
                "item_id": item_id,
                "audio_start_ms": _ms(start),
            }
        case SpeechStopped(item_id, end):
            body = {
                "type": "input_audio_buffer.speech_stopped",
                "item_id": item_id,
                "audio_end_ms": _ms(end),
            }
        case TimeoutTriggered(item_id, start, end):
            body = {
                "type": "input_audio_buffer.timeout_triggered",
                "item_id": item_id,
                "audio_start_ms": _ms(start),
                "audio_end_ms": _ms(end),
            }
        case Committed(item_id, previous):
            body = {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        case Cleared():
            body = {"type": "input_audio_buffer.cleared"}
        case TranscriptDelta(item_id, delta):
            body = {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item_id,
                "content_index": 0,
                "delta": delta,
            }
        case SpeakerSegment(item_id, start, end, speaker, text):
            body = {
                "type": "conversation.item.input_audio_transcription.segment",
                "id": f"seg_{item_id.removeprefix('item_')}",
                "item_id": item_id,
                "content_index": 0,
                "start": round(start, 3),
                "end": round(end, 3),
                "speaker": speaker,
                "text": text,
            }
        case TranscriptCompleted():
            body = {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": event.item_id,
                "content_index": 0,
                "transcript": event.transcript,
                "usage": {"type": "duration", "seconds": round(event.seconds, 3)},
                "logprobs": None
                if event.logprobs is None
                else logprob_entries((p.token, p.logprob) for p in event.logprobs),
                "speaker": event.speaker,
            }
        case TranscriptFailed(item_id, error):
            body = {
                "type": "conversation.item.input_audio_transcription.failed",
                "item_id": item_id,
                "content_index": 0,
                "error": error.to_body()["error"],
            }
        case SessionError(error, event_id):
            return error_event(error, event_id)
    return {"event_id": new_event_id(), **body}
