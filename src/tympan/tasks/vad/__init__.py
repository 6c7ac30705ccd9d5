"""Voice activity detection: where the speech is in a recording.

Four methods score the same 32 ms frame grid: ``silero`` (bundled neural model), ``energy``
(time domain), ``spectral`` (frequency domain) and ``fusion`` (a weighted per-frame vote of
the three). One routine turns any of them into segments.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tympan.audio.types import Audio
from tympan.config import Settings
from tympan.errors import InvalidParameter
from tympan.models.spec import ModelSpec, path_size
from tympan.tasks.vad.energy import energy_probabilities
from tympan.tasks.vad.segments import (
    FRAME_SECONDS,
    SpeechSegment,
    VadOptions,
    VadResult,
    to_segments,
)
from tympan.tasks.vad.silero import SileroState, SileroVad, silero_model_path
from tympan.tasks.vad.spectral import spectral_probabilities

__all__ = [
    "FRAME_SECONDS",
    "FUSION_WEIGHTS",
    "SILERO_MODEL_ID",
    "VAD_TASK",
    "SileroState",
    "SileroVad",
    "SpeechSegment",
    "VadMethod",
    "VadOptions",
    "VadResult",
    "detect_speech",
    "frame_probabilities",
    "model_specs",
]

VadMethod = Literal["silero", "energy", "spectral", "fusion"]
SILERO_MODEL_ID = "silero-vad"
VAD_TASK = "vad"
FUSION_WEIGHTS = {"silero": 0.6, "energy": 0.2, "spectral": 0.2}


def model_specs(settings: Settings) -> list[ModelSpec]:
    """The bundled Silero model (weights ship in the ``silero-vad`` package)."""
    path = silero_model_path()
    return [
        ModelSpec(
            id=SILERO_MODEL_ID,
            task=VAD_TASK,
            backend="onnxruntime",
            source=f"package:silero-vad ({path.name})",
            load=lambda: SileroVad(path, parts=settings.thread_budget),
            description="Silero VAD v5+, 16 kHz, 32 ms frames",
            size_bytes=path_size(path),
        )
    ]


def frame_probabilities(audio: Audio, method: VadMethod, silero: SileroVad | None) -> np.ndarray:
    """Per-frame speech probability of ``method`` (``silero`` needs the loaded model)."""
    if method == "energy":
        return energy_probabilities(audio)
    if method == "spectral":
        return spectral_probabilities(audio)
    if silero is None:
        raise InvalidParameter(f"method {method!r} needs the Silero model.", param="method")
    if method == "silero":
        return silero.probabilities(audio)
    if method == "fusion":
        votes = {
            "silero": silero.probabilities(audio),
            "energy": energy_probabilities(audio),
            "spectral": spectral_probabilities(audio),
        }
        return sum(FUSION_WEIGHTS[name] * votes[name] for name in votes).astype(np.float32)
    raise InvalidParameter(f"Unknown VAD method {method!r}.", param="method")


def detect_speech(
    audio: Audio,
    method: VadMethod = "silero",
    options: VadOptions = VadOptions(),
    silero: SileroVad | None = None,
) -> VadResult:
    """Speech segments of ``audio`` found by ``method``."""
    options.validate()
    probabilities = frame_probabilities(audio, method, silero)
    return to_segments(probabilities, audio.duration, method, options)
