"""ONNX export: concurrent exports (a training job and an update at once) all succeed."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from tympan.tasks.classifiers.architectures import build_classifier
from tympan.tasks.classifiers.export import export_onnx

SHAPE = (64, 40)  # log-mel bands x frames, the CNN family's input


def test_exports_from_many_threads_at_once_all_succeed(tmp_path: Path) -> None:
    """torch.onnx.export keeps global state; unguarded, overlapping exports raised 500s."""
    torch.manual_seed(0)
    models = [build_classifier("cnn", 3, SHAPE[0]).eval() for _ in range(4)]
    start, errors = threading.Barrier(len(models)), []

    def export(index: int) -> None:
        start.wait()
        try:
            export_onnx(models[index], SHAPE, tmp_path / f"{index}.onnx")
        except Exception as exc:  # collected: a thread's exception would not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(i,)) for i in range(len(models))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    features = np.random.default_rng(0).standard_normal((2, *SHAPE)).astype(np.float32)
    for index, model in enumerate(models):  # each file is its own model, not a mix
        session = ort.InferenceSession(str(tmp_path / f"{index}.onnx"))
        logits = session.run(None, {"features": features})[0]
        with torch.no_grad():
            expected = model(torch.from_numpy(features)).numpy()
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
