"""Serving artifacts: ONNX export (optionally int8-quantised) and the onnxruntime runner.

Trained networks are exported with PyTorch's TorchScript-based exporter (the torch.export one
needs ``onnxscript``, which is not a dependency); dynamic batch size, fixed feature shape.
``quantize_dynamic`` from onnxruntime makes the int8 copy. The exporter keeps process-wide
state (``GLOBALS.in_onnx_export``; and ``warnings`` filters are global too): two exports at
once, a training job and an incremental update say, failed with an ``AssertionError`` (500),
so exports take turns under one lock.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from tympan.tasks.classifiers.architectures import Classifier
from tympan.tasks.classifiers.text_features import TextFeatures

__all__ = ["ModelMeta", "OnnxClassifier", "export_onnx", "quantize_onnx"]

INPUT_NAME = "features"
OUTPUT_NAME = "logits"
_EXPORT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What serving needs besides the graph: labels and the input the graph expects."""

    arch: str
    labels: list[str]
    input_dim: int
    frames: int | None  # fixed log-mel frames for the CNN family; None for ``transfer``
    window_seconds: float  # the clip length a detection window should cover
    # ``transfer``: the silence-padded encoder window (0: encoded as present, older versions)
    encoder_seconds: float = 0.0
    # ``transfer``: the encoder layers pooled side by side, a list for layers averaged
    # (None: the last, older versions)
    encoder_layers: list[int | list[int]] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        return cls(**json.loads(text))


def export_onnx(model: Classifier, input_shape: tuple[int, ...], path: Path) -> None:
    """Write ``model`` as ONNX taking ``(batch, *input_shape)`` float32 features."""
    model.eval()
    example = torch.zeros((1, *input_shape), dtype=torch.float32)
    with _EXPORT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def quantize_onnx(source: Path, target: Path) -> None:
    """An int8 (dynamic, weight-only) copy of an ONNX model."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(source, target, weight_type=QuantType.QInt8)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class OnnxClassifier:
    """A loaded version: an onnxruntime session plus its ``ModelMeta``, and for
    ``multimodal`` the text features its transcripts are turned into."""

    def __init__(
        self,
        model_path: Path,
        meta: ModelMeta,
        threads: int = 1,
        text: TextFeatures | None = None,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.meta = meta
        self.text = text

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, classes)`` for a batch of model inputs."""
        outputs = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: chunk})[0]
            for chunk in np.array_split(features, max(1, len(features) // 64 + 1))
            if len(chunk)
        ]
        return _softmax(np.concatenate(outputs).astype(np.float64)).astype(np.float32)
