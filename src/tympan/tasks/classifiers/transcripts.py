"""What a clip says, for ``multimodal`` classifiers: the bundled ASR's greedy transcript.

Training and serving cut a clip into the same ``ChunkJob``s (whole clips up to 30 s, then
30 s pieces) with the same greedy options, so a version is served the transcripts it was
trained on: training decodes a dataset's clips in batches on the leased model
(``decode_chunks``); a predict request sends its chunks through the service's per-model
batching queue (``Transcriber.queue``), batched with every other request's chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from tympan.audio import Audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.asr import (
    DEFAULT_MODEL_ID,
    MAX_CHUNK_SECONDS,
    ChunkJob,
    Transcriber,
    WhisperHandle,
)
from tympan.tasks.asr.decoding import DecodeOptions, decode_chunks
from tympan.tasks.asr.results import Segment

__all__ = [
    "TRANSCRIPT_MODEL_ID",
    "TRANSCRIPT_RECIPE",
    "transcribe_clip",
    "transcribe_clips",
    "transcript_jobs",
]

TRANSCRIPT_MODEL_ID = DEFAULT_MODEL_ID  # Whisper tiny.en, bundled
# Greedy, one temperature: a few words per clip, and the same text every time it is decoded.
_OPTIONS = DecodeOptions(beam_size=1, best_of=1, temperatures=(0.0,))
TRANSCRIPT_RECIPE = f"transcripts:{TRANSCRIPT_MODEL_ID}:greedy"
_BATCH = 16


def transcript_jobs(audio: Audio) -> list[ChunkJob]:
    """The chunks of ``audio`` to decode: the whole clip, or 30 s pieces of a longer one."""
    step = int(MAX_CHUNK_SECONDS * SAMPLE_RATE)
    return [
        ChunkJob(audio.samples[start : start + step], start / SAMPLE_RATE, _OPTIONS)
        for start in range(0, max(audio.samples.size, 1), step)
    ]


def _text(chunks: Sequence[list[Segment] | BaseException]) -> str:
    parts = []
    for segments in chunks:
        if isinstance(segments, BaseException):
            raise segments
        parts += [segment.text.strip() for segment in segments]
    return " ".join(part for part in parts if part)


def transcribe_clips(
    handle: WhisperHandle,
    audios: Sequence[Audio],
    progress: Callable[[float, str], None] | None = None,
) -> list[str]:
    """The transcript of every clip (``""`` where Whisper hears no speech), in batches."""
    jobs = [transcript_jobs(audio) for audio in audios]
    transcripts: list[str] = []
    for first in range(0, len(jobs), _BATCH):
        batch = jobs[first : first + _BATCH]
        decoded = iter(decode_chunks(handle, [job for clip in batch for job in clip]))
        transcripts += [_text([next(decoded) for _ in clip]) for clip in batch]
        if progress is not None:
            progress(len(transcripts) / len(jobs), "transcribing")
    return transcripts


async def transcribe_clip(transcriber: Transcriber, audio: Audio) -> str:
    """The transcript of one clip through the service's batching queue for the ASR model."""
    with transcriber.admission(TRANSCRIPT_MODEL_ID):  # 503 when the queue is full
        queue = transcriber.queue(TRANSCRIPT_MODEL_ID)
        return _text(await asyncio.gather(*(queue.submit(job) for job in transcript_jobs(audio))))
