"""``POST /v1/audio/features``: spectrogram, log-mel, MFCC, ZCR or RMS frames."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Form
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from tympan.api.deps import ServicesDep, audio_upload
from tympan.audio.features import FeatureKind, FeatureOptions, Features, extract_features
from tympan.budgets import check_budget

__all__ = ["FeaturesResponse", "router"]

router = APIRouter(tags=["features"])

FeaturesAudio = audio_upload("features")

_ROWS_PER_CHUNK = 2048


class FeaturesResponse(BaseModel):
    kind: str
    sample_rate: int
    hop_length: int
    frame_rate: float
    deltas: int
    shape: list[int]
    duration: float
    frames: list[list[float]]


def npy_bytes(values: np.ndarray) -> bytes:
    """``values`` serialised as a ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


@router.post(
    "/v1/audio/features",
    response_model=FeaturesResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def audio_features(
    audio: FeaturesAudio,
    services: ServicesDep,
    kind: Annotated[FeatureKind, Form()] = "log_mel",
    n_fft: Annotated[int, Form(ge=16, le=16384)] = 400,
    hop_length: Annotated[int, Form(ge=1, le=16384)] = 160,
    n_mels: Annotated[int, Form(ge=1, le=512)] = 64,
    n_mfcc: Annotated[int, Form(ge=1, le=512)] = 13,
    fmin: Annotated[float, Form(ge=0)] = 0.0,
    fmax: Annotated[float | None, Form(gt=0)] = None,
    power: Annotated[float, Form()] = 2.0,
    deltas: Annotated[int, Form(ge=0, le=2)] = 0,
    format: Annotated[Literal["json", "npy"], Form()] = "json",
) -> FeaturesResponse | Response:
    """Frame features of the uploaded audio as JSON (frames x dims) or as a ``.npy`` file."""
    options = FeatureOptions(
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        n_mfcc=n_mfcc,
        fmin=fmin,
        fmax=fmax,
        power=power,
        deltas=deltas,
    )
    options.validate(audio.sample_rate)
    held = options.values_held(audio.samples.shape[0], kind)
    check_budget(services.settings, "max_feature_values", held, "feature values (frames x dims)")
    features: Features = await services.manager.run(extract_features, audio, kind, options)
    if format == "npy":
        return Response(npy_bytes(features.values), media_type="application/octet-stream")
    header = FeaturesResponse(
        kind=features.kind,
        sample_rate=features.sample_rate,
        hop_length=features.hop_length,
        frame_rate=features.frame_rate,
        deltas=features.deltas,
        shape=list(features.values.shape),
        duration=audio.duration,
        frames=[],
    )
    return StreamingResponse(json_rows(header, features.values), media_type="application/json")


def json_rows(header: FeaturesResponse, values: np.ndarray) -> Iterator[bytes]:
    """The JSON answer with its ``frames`` written a block of rows at a time, so a large answer
    never exists whole as Python floats or as one string."""
    opening = header.model_dump_json()
    yield opening[: -len("[]}")].encode() + b"["
    for first in range(0, values.shape[0], _ROWS_PER_CHUNK):
        rows = json.dumps(values[first : first + _ROWS_PER_CHUNK].tolist(), separators=(",", ":"))
        yield (b"," if first else b"") + rows[1:-1].encode()
    yield b"]}"
