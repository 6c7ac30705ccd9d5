"""Every architecture trains a step, exports to ONNX, and serves the same outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tympan.tasks.classifiers.architectures import (
    ARCHITECTURES,
    ENCODER_ARCHITECTURES,
    build_classifier,
)
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier, export_onnx, quantize_onnx


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_export_matches_torch(arch, tmp_path) -> None:
    torch.manual_seed(0)
    # Encoder architectures take one vector (multimodal: embedding + 40 text features).
    pooled = arch in ENCODER_ARCHITECTURES
    shape = (768 + 40 * (arch == "multimodal"),) if pooled else (48, 64)
    model = build_classifier(arch, 4, shape[-1])
    inputs = torch.randn(3, *shape)
    loss = torch.nn.functional.cross_entropy(model(inputs), torch.tensor([0, 1, 2]))
    loss.backward()  # one training step's worth of graph
    model.eval()
    assert model.embed(inputs).shape[1] == model.head.in_features
    export_onnx(model, shape, tmp_path / "model.onnx")
    meta = ModelMeta(arch, ["a", "b", "c", "d"], shape[-1], None if pooled else 48, 1)
    served = OnnxClassifier(tmp_path / "model.onnx", meta).probabilities(inputs.numpy())
    with torch.no_grad():
        expected = torch.softmax(model(inputs), dim=1).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-4)
    quantize_onnx(tmp_path / "model.onnx", tmp_path / "model.int8.onnx")
    quantized = OnnxClassifier(tmp_path / "model.int8.onnx", meta).probabilities(inputs.numpy())
    assert quantized.shape == (3, 4) and np.allclose(quantized.sum(axis=1), 1, atol=1e-4)
