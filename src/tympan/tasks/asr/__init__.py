"""Speech recognition: Whisper (CTranslate2, faster-whisper) behind OpenAI's audio API.

Recordings are cut into <=30 s chunks at pauses found by Silero VAD; the chunks of every
request for a model go through one ``BatchQueue`` and are decoded in batches (see
``decoding``), then joined into an OpenAI-shaped ``Transcription``.
"""

from __future__ import annotations

from tympan.tasks.asr.chunking import MAX_CHUNK_SECONDS, Chunk, plan_chunks
from tympan.tasks.asr.decoding import ChunkJob, DecodeOptions, decode_chunks, detect_language
from tympan.tasks.asr.formats import ResponseFormat, render_text
from tympan.tasks.asr.languages import LANGUAGE_NAMES, language_name
from tympan.tasks.asr.models import (
    BASE_MODEL_ID,
    DEFAULT_MODEL_ID,
    WhisperHandle,
    assemble_base_model,
    load_whisper,
    model_specs,
)
from tympan.tasks.asr.pipeline import (
    ChunkProgress,
    TranscribeOptions,
    Transcriber,
    transcriber_for,
)
from tympan.tasks.asr.results import Segment, Transcription, Word

__all__ = [
    "BASE_MODEL_ID",
    "DEFAULT_MODEL_ID",
    "LANGUAGE_NAMES",
    "MAX_CHUNK_SECONDS",
    "Chunk",
    "ChunkJob",
    "ChunkProgress",
    "DecodeOptions",
    "ResponseFormat",
    "Segment",
    "TranscribeOptions",
    "Transcriber",
    "Transcription",
    "WhisperHandle",
    "Word",
    "assemble_base_model",
    "decode_chunks",
    "detect_language",
    "language_name",
    "load_whisper",
    "model_specs",
    "plan_chunks",
    "render_text",
    "transcriber_for",
]
