"""``POST /v1/audio/enhancements``: a noisy recording in, the same recording with less noise out.

The audio streams back block by block as it is enhanced (bounded memory however long the
recording), encoded by the same encoder as speech synthesis. With the enhancer on Ray replicas,
it streams part by part (``PartedEnhancement``: a replica keeps no state between calls).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from tympan.api.deps import ServicesDep, decode_upload
from tympan.api.streaming import enhanced_chunks, leased_chunks
from tympan.audio.encode import FORMATS, EncodedFormat
from tympan.tasks.enhancement import ENHANCEMENT_TASK, EnhancementStream, PartedEnhancement

__all__ = ["router"]

router = APIRouter(tags=["enhancement"])


@router.post(
    "/v1/audio/enhancements",
    response_class=StreamingResponse,
    responses={200: {"content": {fmt.media_type: {} for fmt in FORMATS.values()}}},
)
async def create_enhancement(
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The noisy recording (any decodable format).")],
    model: Annotated[
        str | None, Form(description="Enhancement model id (GET /v1/models?task=enhancement).")
    ] = None,
    response_format: Annotated[EncodedFormat, Form()] = "wav",
) -> StreamingResponse:
    """The recording enhanced, same length and timing, streamed as it is computed."""
    registry = services.registry
    spec = (
        registry.get(model, task=ENHANCEMENT_TASK) if model else registry.default(ENHANCEMENT_TASK)
    )
    audio = await decode_upload(file, services)
    manager = services.manager
    if manager.served_remotely(spec.id, ENHANCEMENT_TASK):
        parted = PartedEnhancement(audio, response_format)
        media_type, rate = parted.media_type, parted.sample_rate
        chunks = enhanced_chunks(manager, spec.id, parted)
    else:
        stream = await manager.infer(
            spec.id, EnhancementStream, audio, response_format, task=ENHANCEMENT_TASK
        )
        media_type, rate = stream.media_type, stream.sample_rate
        chunks = leased_chunks(
            manager, spec.id, stream.next_chunk, task=ENHANCEMENT_TASK, close=stream.close
        )
    headers = {"X-Tympan-Model": spec.id, "X-Tympan-Sample-Rate": str(rate)}
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
