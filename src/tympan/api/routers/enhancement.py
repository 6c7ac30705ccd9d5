"""``POST /v1/audio/enhancements``: noisy speech in, cleaner speech out, streamed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from tympan.api.deps import ServicesDep, decode_uploads
from tympan.api.streaming import leased_chunks
from tympan.audio.encode import FORMATS, EncodedFormat
from tympan.tasks.enhancement import EnhancementStream

__all__ = ["router"]

router = APIRouter(tags=["enhancement"])


@router.post(
    "/v1/audio/enhancements",
    response_class=StreamingResponse,
    responses={200: {"content": {fmt.media_type: {} for fmt in FORMATS.values()}}},
)
async def create_enhancement(
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The noisy recording (any format PyAV reads).")],
    model: Annotated[str | None, Form(description="An enhancement model id.")] = None,
    response_format: Annotated[EncodedFormat, Form()] = "wav",
) -> StreamingResponse:
    """``file`` enhanced, same length and timing, streamed block by block as it is computed."""
    registry, settings = services.registry, services.settings
    chosen = model or settings.enhancement_model
    spec = registry.get(chosen, task="enhancement") if chosen else registry.default("enhancement")
    (audio,) = await decode_uploads([file], services, "file")
    stream = await services.manager.infer(
        spec.id, EnhancementStream, audio, response_format, task="enhancement"
    )
    headers = {"X-Tympan-Model": spec.id, "X-Tympan-Sample-Rate": str(stream.sample_rate)}
    chunks = leased_chunks(
        services.manager, spec.id, stream.next_chunk, task="enhancement", on_close=stream.close
    )
    return StreamingResponse(chunks, media_type=stream.media_type, headers=headers)
