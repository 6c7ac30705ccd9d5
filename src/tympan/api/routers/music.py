"""``POST /v1/music/generations`` (continue a melody, or compose from scratch) and
``POST /v1/music/train`` (train a style model as a background job).

A generation takes its prompt as a MIDI upload (multipart field ``prompt``) or, in a JSON
body, as a note list (``notes``) or an ABC tune (``abc``); every other field is the same in
both forms. The answer is MIDI, WAV, MP3, FLAC, or JSON notes (``response_format``).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import asdict
from fractions import Fraction
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from tympan.api.deps import ServicesDep
from tympan.api.services import Services
from tympan.audio.encode import encode_audio
from tympan.budgets import check_budget
from tympan.errors import InvalidParameter, ModelTraining, UnsupportedMedia
from tympan.store.jobs import Job
from tympan.tasks.music import (
    RENDER_RATE,
    GeneratedPiece,
    Meter,
    MusicKey,
    MusicModel,
    MusicOptions,
    Note,
    PromptInfo,
    SamplingOptions,
    compose,
    describe,
    is_trained,
    melody_from_notes,
    parse_abc,
    parse_midi,
    remote_stage_runner,
    render_midi,
    train_stages,
    training_stages,
    write_midi,
)

__all__ = ["MusicGenerationRequest", "MusicTrainRequest", "router"]

router = APIRouter(tags=["music"])

ResponseFormat = Literal["midi", "wav", "mp3", "flac", "json"]
_MEDIA_TYPES = {"midi": "audio/midi", "wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac"}
_EXTENSIONS = {"midi": "mid", "wav": "wav", "mp3": "mp3", "flac": "flac"}
_training_jobs: dict[str, str] = {}  # "<data dir>|<model id>" -> job id of its last training
_training_lock = threading.Lock()
_RETRY_SECONDS = 5.0  # how often a client waiting for a first model should try again


class PromptNote(BaseModel):
    """A prompt note; times in beats (quarter notes)."""

    pitch: int = Field(ge=0, le=127)
    onset: float = Field(ge=0, le=100_000)
    duration: float = Field(gt=0, le=10_000)
    velocity: int = Field(90, ge=1, le=127)


class MusicGenerationRequest(BaseModel):
    """Every field of a generation request (JSON body, or multipart form fields)."""

    model: str | None = Field(None, description="Model id or style alias (folk, bach).")
    notes: list[PromptNote] | None = Field(None, max_length=20_000, description="Prompt notes.")
    abc: str | None = Field(None, max_length=200_000, description="Prompt as an ABC tune.")
    bars: int | None = Field(None, description="Bars to add after the prompt (default 8).")
    seconds: float | None = Field(None, description="Or: seconds of music to add.")
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = Field(None, description="Same seed, same piece; random when omitted.")
    tempo: float | None = Field(None, description="BPM (default: the prompt's, else 100).")
    instrument: int = Field(0, ge=0, le=127, description="General MIDI program (0 = piano).")
    key: str | None = Field(None, description="e.g. 'G major', 'e minor' (default: found).")
    meter: str | None = Field(None, description="e.g. '3/4' (default: the prompt's, else 4/4).")
    stay_in_key: bool = False
    strict_bars: bool = True
    response_format: ResponseFormat = "midi"

    def options(self, seed: int) -> MusicOptions:
        return MusicOptions(
            bars=self.bars,
            seconds=self.seconds,
            tempo=self.tempo,
            key=MusicKey.parse(self.key) if self.key else None,
            meter=Meter.parse(self.meter) if self.meter else None,
            sampling=SamplingOptions(
                self.temperature, self.top_k, self.top_p, seed, self.stay_in_key, self.strict_bars
            ),
        )


class MusicTrainRequest(BaseModel):
    """Which music model to train, and for how long at most."""

    model: str = Field("folk-lstm", description="Model id or style alias.")
    max_seconds: float | None = Field(None, gt=0, le=86_400, description="Training budget.")


def _request_schema() -> dict[str, Any]:
    """The OpenAPI request body: the fields as JSON, or as a form with a MIDI ``prompt``."""
    schema = MusicGenerationRequest.model_json_schema()
    note = schema.pop("$defs")["PromptNote"]
    schema["properties"]["notes"]["anyOf"][0]["items"] = note
    form = {k: v for k, v in schema["properties"].items() if k != "notes"}
    form["prompt"] = {"type": "string", "format": "binary", "description": "A MIDI file."}
    return {
        "required": False,
        "content": {
            "application/json": {"schema": schema},
            "multipart/form-data": {"schema": {"type": "object", "properties": form}},
        },
    }


def _validated(model: type[BaseModel], values: Any) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidParameter(f"{param}: {first['msg']}", param=param) from None


async def _read_request(
    request: Request, services: Services
) -> tuple[MusicGenerationRequest, bytes | None]:
    """The request fields and the uploaded MIDI bytes (None without an upload)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("prompt")
        fields = {k: v for k, v in form.items() if k != "prompt" and isinstance(v, str)}
        midi = None
        if isinstance(upload, UploadFile):
            size = upload.size if upload.size is not None else 0
            check_budget(services.settings, "max_midi_bytes", size, "bytes", param="prompt")
            midi = await upload.read(services.settings.max_midi_bytes + 1)
            check_budget(services.settings, "max_midi_bytes", len(midi), "bytes", param="prompt")
        return _validated(MusicGenerationRequest, fields), midi
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise InvalidParameter("The body is not valid JSON.") from None
        return _validated(MusicGenerationRequest, body if body is not None else {}), None
    raise UnsupportedMedia(
        "Send application/json (notes or abc prompt) or multipart/form-data (MIDI prompt)."
    )


def _prompt(
    fields: MusicGenerationRequest, midi: bytes | None, max_events: int
) -> PromptInfo | None:
    given = [name for name, value in (("prompt", midi), ("notes", fields.notes),
             ("abc", fields.abc)) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise InvalidParameter(f"Give one prompt, not {' and '.join(given)}.", param=given[1])
    if midi is not None:
        return parse_midi(midi, max_events)
    if fields.abc is not None:
        return parse_abc(fields.abc)
    if fields.notes is not None:
        notes = fields.notes
        line = melody_from_notes(
            [Note(Fraction(n.onset), Fraction(n.duration), n.pitch, n.velocity) for n in notes]
        )
        if not line:
            raise InvalidParameter("The note list is empty.", param="notes")
        return PromptInfo(line)
    return None


def _start_training(services: Services, model_id: str, max_seconds: float | None) -> Job:
    """The model's running training job, or a new one."""
    slot = f"{services.settings.data_dir.resolve()}|{model_id}"
    with _training_lock:
        running = _training_jobs.get(slot)
        if running is not None:
            job = services.jobs.get(running)
            if job.status in ("queued", "running"):
                return job
        stages = training_stages(services.settings, model_id, max_seconds)

        remote = services.remote_tasks
        run_stage = (
            None
            if remote is None
            else remote_stage_runner(remote, services.settings.ray_training_cpus)
        )

        def work(progress: Any) -> dict[str, Any]:
            report = train_stages(
                services.settings.models_dir,
                model_id,
                stages,
                progress,
                # the next request loads the new weights
                on_saved=lambda _: services.manager.unload(model_id),
                run_stage=run_stage,
            )
            return asdict(report)

        params = {"model": model_id, **asdict(stages[-1]), "stages": len(stages)}
        job = services.jobs.submit("music-train", work, params)
        _training_jobs[slot] = job.id
        return job


@router.post("/v1/music/train", response_model=Job, status_code=202)
def music_train(body: MusicTrainRequest, services: ServicesDep) -> Job:
    """Train (or retrain) a music model from the music21 corpus; poll ``/v1/jobs/{id}``."""
    spec = services.registry.get(body.model, task="music")
    return _start_training(services, spec.id, body.max_seconds)


def _render(piece: GeneratedPiece, fmt: str, instrument: int, services: Services) -> bytes:
    midi = write_midi(piece.melody, piece.tempo, instrument)
    if fmt == "midi":
        return midi
    samples = render_midi(midi, services.settings.music_soundfont)
    return encode_audio(samples, RENDER_RATE, fmt)  # type: ignore[arg-type]


@router.post(
    "/v1/music/generations",
    responses={
        200: {
            "description": "MIDI, audio (wav/mp3/flac) or JSON notes, per response_format.",
            "content": {media: {} for media in [*_MEDIA_TYPES.values(), "application/json"]},
        }
    },
    openapi_extra={"requestBody": _request_schema()},
)
async def music_generations(request: Request, services: ServicesDep) -> Response:
    """Continue the prompt melody (or compose from scratch) in the model's style."""
    fields, midi = await _read_request(request, services)
    prompt = await services.manager.run(_prompt, fields, midi, services.settings.max_midi_events)
    model_id = fields.model or services.registry.default("music").id
    spec = services.registry.get(model_id, task="music")
    if not is_trained(services.settings.models_dir, spec.id):
        job = _start_training(services, spec.id, None)
        raise ModelTraining(
            f"Music model {spec.id!r} is not trained yet; training started as job {job.id} "
            f"(error.job_id; poll GET /v1/jobs/{job.id}) - retry after the Retry-After seconds, "
            f"or train it ahead with `tympan music train --model {spec.id}`.",
            job_id=job.id,
            param="model",
            retry_after=_RETRY_SECONDS,
        )
    seed = fields.seed if fields.seed is not None else secrets.randbelow(2**31)
    options = fields.options(seed)
    options.validate()
    settings = services.settings

    def generate(handle: MusicModel) -> GeneratedPiece:
        return compose(
            handle.model,
            prompt,
            options,
            max_bars=settings.music_max_bars,
            max_seconds=settings.music_max_seconds,
            threads=settings.cpu_threads or 1,
        )

    piece = await services.manager.infer(spec.id, generate, task="music")
    headers = {"X-Tympan-Seed": str(seed), "X-Tympan-Model": spec.id}
    if fields.response_format == "json":
        return JSONResponse(asdict(describe(piece, spec.id, seed)), headers=headers)
    content = await services.manager.run(
        _render, piece, fields.response_format, fields.instrument, services
    )
    extension = _EXTENSIONS[fields.response_format]
    headers["Content-Disposition"] = f'attachment; filename="music.{extension}"'
    return Response(content, media_type=_MEDIA_TYPES[fields.response_format], headers=headers)
