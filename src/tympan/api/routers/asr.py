"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``, as OpenAI documents them.

OpenAI's fields (``file``, ``model``, ``language``, ``prompt``, ``response_format``,
``temperature``, ``timestamp_granularities[]``, ``stream``) plus the faster-whisper options
its users expect (``beam_size``, ``vad_filter``, ``hotwords``, ``word_timestamps``, ...).
``diarize=true`` labels each word with its speaker (enrolled ones by name) and splits segments
where the speaker changes, so srt/vtt cues name one speaker each.
``stream=true`` answers with server-sent events: one ``transcript.text.delta``
per finished chunk (with Tympan's ``progress``), with diarization one
``transcript.text.segment`` per speaker-labelled segment, then ``transcript.text.done`` carrying
the whole ``verbose_json`` transcription, so a client can show progress on long recordings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from tympan.api.deps import (
    KnownSpeakersDep,
    NamespaceDep,
    ServicesDep,
    audio_upload,
    require_visible_model,
)
from tympan.api.services import Services
from tympan.audio.types import Audio
from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import InvalidParameter, TympanError
from tympan.store.glossaries import GlossaryStore
from tympan.tasks.asr import (
    ChunkProgress,
    ResponseFormat,
    Segment,
    TranscribeOptions,
    Transcription,
    render_text,
    transcriber_for,
)
from tympan.tasks.asr.chunking import CHUNK_VAD_OPTIONS
from tympan.tasks.asr.formats import logprob_entries, word_logprobs
from tympan.tasks.asr.glossary import with_glossary
from tympan.tasks.asr.routing import route_model
from tympan.tasks.diarization import DiarizationOptions, diarize_with_models, label_transcription
from tympan.tasks.vad import VadOptions
from tympan.tracing import span

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["asr"])

TranscriptionAudio = audio_upload("transcription")
TranslationAudio = audio_upload("translation")

Granularity = Literal["word", "segment"]


@dataclass(frozen=True, slots=True)
class DecodingFields:
    """The faster-whisper options both endpoints accept (form fields, documented defaults)."""

    beam_size: int
    best_of: int
    patience: float
    length_penalty: float
    repetition_penalty: float
    no_repeat_ngram_size: int
    compression_ratio_threshold: float | None
    log_prob_threshold: float | None
    no_speech_threshold: float | None
    vad_filter: bool
    hotwords: str | None
    word_timestamps: bool
    condition_on_previous_text: bool


@dataclass(frozen=True, slots=True)
class ChunkingFields:
    """OpenAI's ``chunking_strategy``: ``auto``, or ``server_vad`` with its fields, sent as
    ``chunking_strategy[type]``, ``[threshold]``, ... (how the openai clients send an object
    in a form) or as one JSON string."""

    strategy: str | None
    type: str | None
    threshold: float | None
    prefix_padding_ms: int | None
    silence_duration_ms: int | None

    def vad_options(self) -> VadOptions:
        """The VAD options that cut the audio into windows; the tuned ones for ``auto``."""
        given: Any = {
            "type": self.type,
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
        }
        strategy = (self.strategy or "").strip()
        if strategy.startswith("{"):
            given = None
            with contextlib.suppress(json.JSONDecodeError):
                given = json.loads(strategy)
            if not isinstance(given, dict):
                raise InvalidParameter(
                    "chunking_strategy is not a JSON object.", param="chunking_strategy"
                )
        elif strategy not in ("", "auto"):
            raise InvalidParameter(
                f"chunking_strategy {strategy!r} is not 'auto' or a server_vad object.",
                param="chunking_strategy",
            )
        if strategy == "auto" or all(value is None for value in given.values()):
            return CHUNK_VAD_OPTIONS
        if given.get("type") != "server_vad":
            raise InvalidParameter(
                "chunking_strategy needs type server_vad (or the string auto).",
                param="chunking_strategy",
            )
        changes = {
            ours: given[theirs]
            for theirs, ours in _SERVER_VAD_FIELDS.items()
            if given.get(theirs) is not None
        }
        try:
            options = replace(CHUNK_VAD_OPTIONS, **changes)
            options.validate()
        except (InvalidParameter, TypeError) as exc:
            raise InvalidParameter(
                f"chunking_strategy: {getattr(exc, 'message', exc)}", param="chunking_strategy"
            ) from None
        return options


_SERVER_VAD_FIELDS = {
    "threshold": "threshold",
    "prefix_padding_ms": "speech_pad_ms",
    "silence_duration_ms": "min_silence_ms",
}
"""OpenAI's server_vad fields and the VadOptions fields they set."""


def chunking_fields(
    strategy: Annotated[
        str | None,
        Form(
            alias="chunking_strategy",
            description="auto, or a JSON server_vad object (threshold, prefix_padding_ms, "
            "silence_duration_ms): the VAD that cuts the audio into windows.",
        ),
    ] = None,
    kind: Annotated[str | None, Form(alias="chunking_strategy[type]")] = None,
    threshold: Annotated[float | None, Form(alias="chunking_strategy[threshold]")] = None,
    prefix_padding_ms: Annotated[
        int | None, Form(alias="chunking_strategy[prefix_padding_ms]")
    ] = None,
    silence_duration_ms: Annotated[
        int | None, Form(alias="chunking_strategy[silence_duration_ms]")
    ] = None,
) -> ChunkingFields:
    return ChunkingFields(strategy, kind, threshold, prefix_padding_ms, silence_duration_ms)


ChunkingDep = Annotated[ChunkingFields, Depends(chunking_fields)]


def decoding_fields(
    beam_size: Annotated[int, Form(ge=1, le=20, description="Beam width at temperature 0.")] = 5,
    best_of: Annotated[int, Form(ge=1, le=20, description="Samples per fallback.")] = 5,
    patience: Annotated[float, Form(gt=0, le=10)] = 1.0,
    length_penalty: Annotated[float, Form(ge=0, le=10)] = 1.0,
    repetition_penalty: Annotated[float, Form(gt=0, le=10)] = 1.0,
    no_repeat_ngram_size: Annotated[int, Form(ge=0, le=20)] = 0,
    compression_ratio_threshold: Annotated[float | None, Form(gt=0)] = 2.4,
    log_prob_threshold: Annotated[float | None, Form(le=0)] = -1.0,
    no_speech_threshold: Annotated[float | None, Form(ge=0, le=1)] = 0.6,
    vad_filter: Annotated[
        bool, Form(description="Drop non-speech (Silero VAD) before decoding.")
    ] = True,
    hotwords: Annotated[
        str | None, Form(max_length=2000, description="Words or phrases to favour.")
    ] = None,
    word_timestamps: Annotated[bool, Form(description="Word times (as granularity word).")] = False,
    condition_on_previous_text: Annotated[
        bool, Form(description="Prompt each chunk with the text before it (not batched).")
    ] = False,
) -> DecodingFields:
    return DecodingFields(
        beam_size,
        best_of,
        patience,
        length_penalty,
        repetition_penalty,
        no_repeat_ngram_size,
        compression_ratio_threshold,
        log_prob_threshold,
        no_speech_threshold,
        vad_filter,
        hotwords,
        word_timestamps,
        condition_on_previous_text,
    )


DecodingDep = Annotated[DecodingFields, Depends(decoding_fields)]
ModelField = Annotated[
    str | None,
    Form(description="Model id or alias, or an OpenAI name (routed by language); default tiny.en."),
]
PromptField = Annotated[str | None, Form(max_length=4000)]
ApiFormat = ResponseFormat | Literal["diarized_json"]
FormatField = Annotated[ApiFormat, Form()]
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
TemperatureField = Annotated[float, Form(ge=0, le=1)]
StreamField = Annotated[bool, Form(description="Server-sent events with progress.")]


def _usage(transcription: Transcription) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcription.duration)}


def _verbose(transcription: Transcription) -> dict[str, Any]:
    body = asdict(transcription)
    if body["words"] is None:
        del body["words"]
    return {**body, "usage": _usage(transcription)}


def _diarized(transcription: Transcription) -> dict[str, Any]:
    """OpenAI's ``diarized_json``: speaker-labelled segments of type transcript.text.segment."""
    segments = [
        {
            "id": f"seg_{segment.id}",
            "start": segment.start,
            "end": segment.end,
            "speaker": segment.speaker,
            "text": segment.text.strip(),
            "type": "transcript.text.segment",
        }
        for segment in transcription.segments
    ]
    return {
        "task": "transcribe",
        "duration": transcription.duration,
        "text": transcription.text,
        "segments": segments,
        "usage": _usage(transcription),
    }


def _response(transcription: Transcription, fmt: ApiFormat, logprobs: bool = False) -> Any:
    if fmt == "diarized_json":
        return JSONResponse(_diarized(transcription))
    if fmt == "json":
        body: dict[str, Any] = {"text": transcription.text, "usage": _usage(transcription)}
        if logprobs:
            body["logprobs"] = logprob_entries(word_logprobs(transcription.segments))
        return JSONResponse(body)
    if fmt == "verbose_json":
        return JSONResponse(_verbose(transcription))
    return PlainTextResponse(render_text(transcription, fmt))


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event)}\n\n"


Run = Callable[[Callable[[ChunkProgress], None] | None], Awaitable[Transcription]]
"""A request's transcription, given an optional progress callback."""


def _stream(
    run: Run, admission: contextlib.ExitStack, logprobs: bool, segments: bool
) -> StreamingResponse:
    """Deltas as chunks finish, then the whole transcription (errors become an event).

    ``admission`` holds the request's place in the model's queue until the work ends;
    ``logprobs`` gives each delta (and the done event) its words' log probabilities;
    ``segments`` sends OpenAI's ``transcript.text.segment`` event for each speaker-labelled
    segment before the done event.
    """

    def logprobs_of(pieces: list[Segment]) -> list[dict[str, Any]] | None:
        return logprob_entries(word_logprobs(pieces)) if logprobs else None

    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def on_progress(progress: ChunkProgress) -> None:
        events.put_nowait(
            {
                "type": "transcript.text.delta",
                "delta": "".join(segment.text for segment in progress.segments),
                "logprobs": logprobs_of(progress.segments),
                "progress": round(progress.fraction, 4),
                "audio_seconds": progress.chunk.end,
            }
        )

    async def work() -> None:
        try:
            with admission:
                result = await run(on_progress)
            if segments:
                for event in _diarized(result)["segments"]:
                    events.put_nowait(event)
            events.put_nowait(
                {
                    "type": "transcript.text.done",
                    "text": result.text,
                    "logprobs": logprobs_of(result.segments),
                    "usage": _usage(result),
                    "transcription": _verbose(result),
                }
            )
        except Exception as exc:  # the 200 is already sent: the error travels as an event
            if not isinstance(exc, TympanError):
                log.exception("asr stream failed")
                exc = TympanError(f"Internal error: {type(exc).__name__}.")
            events.put_nowait({"type": "error", "status": exc.status, **exc.to_body()})
        finally:
            events.put_nowait(None)

    async def body() -> AsyncIterator[str]:
        task = asyncio.create_task(work())
        try:
            while (event := await events.get()) is not None:
                yield _sse(event)
        finally:
            task.cancel()

    return StreamingResponse(body(), media_type="text/event-stream")


async def _serve(
    services: Services,
    audio: Audio,
    model: str | None,
    options: TranscribeOptions,
    fmt: ApiFormat,
    stream: bool,
    diarize: bool = False,
    namespace: str = DEFAULT_NAMESPACE,
    logprobs: bool = False,
    known: list[tuple[str, Audio]] | None = None,
) -> Any:
    require_visible_model(services, model, namespace)
    model_id = model or services.registry.default("asr").id
    if fmt in ("json", "text") and not (diarize or options.word_timestamps):
        options = replace(options, timestamps=False)  # no times shown: decode text only
    model_id, options = await route_model(
        services.manager, services.settings, model_id, audio, options
    )
    glossary = await asyncio.to_thread(GlossaryStore(services.db).get, namespace, model_id)
    options = with_glossary(options, glossary)
    transcriber = transcriber_for(services.manager, services.settings)

    async def run(on_progress: Callable[[ChunkProgress], None] | None = None) -> Transcription:
        if not diarize:
            return await transcriber.transcribe(audio, model_id, options, on_progress)
        with_words = replace(options, word_timestamps=True)  # speakers are given per word
        transcription, turns = await asyncio.gather(
            transcriber.transcribe(audio, model_id, with_words, on_progress),
            diarize_with_models(
                services.manager,
                services.db,
                audio,
                None,
                DiarizationOptions(),
                namespace,
                known or (),
            ),
        )
        return label_transcription(
            transcription, turns.segments, keep_words=options.word_timestamps
        )

    if stream:
        await transcriber.check(model_id, options)  # refuse before the 200 starts streaming
        admission = contextlib.ExitStack()
        admission.enter_context(transcriber.admission(model_id))
        return _stream(run, admission, logprobs, segments=diarize)
    with transcriber.admission(model_id):
        result = await run()
    with span("respond", format=fmt):
        return _response(result, fmt, logprobs)


def _options(
    task: Literal["transcribe", "translate"],
    decoding: DecodingFields,
    *,
    language: str | None,
    prompt: str | None,
    temperature: float,
    words: bool,
    chunking: VadOptions = CHUNK_VAD_OPTIONS,
) -> TranscribeOptions:
    fields = asdict(decoding)
    fields["word_timestamps"] = decoding.word_timestamps or words
    return TranscribeOptions(
        task=task,
        language=language,
        prompt=prompt,
        temperature=temperature,
        chunking=chunking,
        **fields,
    )


@router.post(
    "/v1/audio/transcriptions",
    responses={200: {"content": {"application/json": {}, "text/plain": {}}}},
)
async def create_transcription(
    audio: TranscriptionAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    decoding: DecodingDep,
    known: KnownSpeakersDep,
    chunking: ChunkingDep,
    model: ModelField = None,
    language: Annotated[str | None, Form(description="ISO-639-1 code; detected if absent.")] = None,
    prompt: PromptField = None,
    response_format: FormatField = "json",
    temperature: TemperatureField = 0.0,
    timestamp_granularities: Annotated[
        list[Granularity] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    stream: StreamField = False,
    diarize: Annotated[
        bool, Form(description="Label segments and words with speakers (named if enrolled).")
    ] = False,
    include: Annotated[
        list[Literal["logprobs"]] | None,
        Form(
            alias="include[]",
            description="logprobs: per-word log probabilities (json, and each stream event).",
        ),
    ] = None,
) -> Any:
    """Transcribe the uploaded audio (OpenAI's ``createTranscription``).

    ``diarized_json`` or the ``gpt-4o-transcribe-diarize`` model turn on ``diarize``;
    ``known_speaker_names[]`` + ``known_speaker_references[]`` name speakers for this request,
    together with the enrolled ones.
    """
    diarize = diarize or response_format == "diarized_json" or model == DIARIZE_MODEL
    if known and not diarize:
        raise InvalidParameter(
            "known_speaker_names[] needs diarization: model gpt-4o-transcribe-diarize, "
            "response_format diarized_json or diarize=true.",
            param="known_speaker_names[]",
        )
    logprobs = "logprobs" in (include or [])
    if logprobs and (response_format != "json" or diarize):
        raise InvalidParameter(
            "include[]=logprobs needs response_format json, without diarize.",
            param="include[]",
        )
    options = _options(
        "transcribe",
        decoding,
        language=language or None,
        prompt=prompt or None,
        temperature=temperature,
        words=logprobs or "word" in (timestamp_granularities or []),
        chunking=chunking.vad_options(),
    )
    return await _serve(
        services,
        audio,
        model,
        options,
        response_format,
        stream,
        diarize,
        namespace,
        logprobs,
        known,
    )


@router.post(
    "/v1/audio/translations",
    responses={200: {"content": {"application/json": {}, "text/plain": {}}}},
)
async def create_translation(
    audio: TranslationAudio,
    services: ServicesDep,
    namespace: NamespaceDep,
    decoding: DecodingDep,
    model: ModelField = None,
    prompt: PromptField = None,
    response_format: FormatField = "json",
    temperature: TemperatureField = 0.0,
    stream: StreamField = False,
) -> Any:
    """Translate the uploaded speech into English text (OpenAI's ``createTranslation``)."""
    if response_format == "diarized_json":
        raise InvalidParameter(
            "diarized_json is a transcription format; translations have no speakers.",
            param="response_format",
        )
    options = _options(
        "translate",
        decoding,
        language=None,
        prompt=prompt or None,
        temperature=temperature,
        words=False,
    )
    return await _serve(
        services, audio, model, options, response_format, stream, namespace=namespace
    )
