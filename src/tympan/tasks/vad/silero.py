"""Silero VAD, the bundled neural detector, run with onnxruntime.

The ``silero-vad`` package ships several exports of one model; the sequence export scores a
block of frames in one ``run`` (each row = 64 samples of context + one 512-sample window),
which gives the same probabilities as the per-window loop the package's own wrapper runs,
in a fraction of the Python overhead. Blocks of 4096 frames pass the LSTM state on to the
next, so the probabilities equal those of one run over the whole recording while memory
stays flat as recordings grow.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tympan.audio.types import Audio
from tympan.tasks.vad.segments import grid_blocks

__all__ = ["SileroVad", "silero_model_path"]

_CONTEXT = 64


def silero_model_path() -> Path:
    """The sequence ONNX export inside the installed ``silero-vad`` package."""
    return Path(str(resources.files("silero_vad") / "data" / "silero_vad_16k_sequence.onnx"))


class SileroVad:
    """A loaded Silero model; ``probabilities`` scores every 32 ms frame of an ``Audio``."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(path or silero_model_path()), options, providers=["CPUExecutionProvider"]
        )

    def probabilities(self, audio: Audio) -> np.ndarray:
        """Per-frame speech probability (the LSTM state runs through the whole recording,
        carried from one block of frames to the next)."""
        state = (np.zeros((1, 1, 128), np.float32), np.zeros((1, 1, 128), np.float32))
        context = np.zeros(_CONTEXT, np.float32)
        scores = []
        for frames in grid_blocks(audio):
            contexts = np.empty((frames.shape[0], _CONTEXT), np.float32)
            contexts[0] = context
            contexts[1:] = frames[:-1, -_CONTEXT:]
            rows = np.ascontiguousarray(np.concatenate([contexts, frames], axis=1))
            probabilities, h, c = self.session.run(
                None, {"input": rows, "h": state[0], "c": state[1]}
            )
            state, context = (h, c), frames[-1, -_CONTEXT:]
            scores.append(probabilities.astype(np.float32).reshape(-1))
        return np.concatenate(scores) if scores else np.zeros(0, np.float32)
