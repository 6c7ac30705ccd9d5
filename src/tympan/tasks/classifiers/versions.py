"""A version's files: writing them into the artifact store and loading them to serve.

Layout under ``classifiers/<name>/<version>/``: ``model.onnx`` (served; ``model.int8.onnx``
too when quantised), ``network.pt`` (PyTorch weights, for incremental updates),
``embeddings.npz`` (body embeddings of the examples, for head refits), ``meta.json``,
``report.json``, ``report.md``, ``confusion.png``, ``curves.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from tympan.models.spec import ModelSpec, path_size
from tympan.store.artifacts import ArtifactStore
from tympan.store.classifiers import ClassifierVersion
from tympan.tasks.classifiers.architectures import Classifier, build_classifier
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier

__all__ = [
    "CLASSIFIER_TASK",
    "StoredEmbeddings",
    "load_network",
    "publish_folder",
    "served_model",
    "version_key",
    "version_spec",
]

CLASSIFIER_TASK = "audio-classification"


def version_key(name: str, version: int) -> str:
    """The artifact folder of a version."""
    return f"classifiers/{name}/{version}"


def publish_folder(
    artifacts: ArtifactStore, folder: Path, name: str, version: int
) -> dict[str, str]:
    """Move every file of ``folder`` into the version's artifact folder; returns checksums."""
    key = version_key(name, version)
    checksums = {
        item.name: artifacts.import_file(f"{key}/{item.name}", item)
        for item in sorted(folder.iterdir())
        if item.is_file()
    }
    shutil.rmtree(folder, ignore_errors=True)
    return checksums


def served_model(artifacts: ArtifactStore, version: ClassifierVersion) -> OnnxClassifier:
    """The onnxruntime runner of a version (the int8 graph when it was quantised)."""
    folder = artifacts.path(version_key(version.name, version.version))
    meta = ModelMeta.from_json((folder / "meta.json").read_text())
    graph = "model.int8.onnx" if (folder / "model.int8.onnx").is_file() else "model.onnx"
    return OnnxClassifier(folder / graph, meta)


def version_spec(artifacts: ArtifactStore, version: ClassifierVersion, served: bool) -> ModelSpec:
    """The ``ModelSpec`` of a version (``name:N``; the served one also answers to ``name``)."""
    folder = artifacts.path(version_key(version.name, version.version))
    metrics = version.metrics
    return ModelSpec(
        id=version.ref,
        task=CLASSIFIER_TASK,
        backend="onnxruntime",
        source=f"trained:{version.ref}",
        load=lambda: served_model(artifacts, version),
        aliases=(version.name,) if served else (),
        description=f"{version.arch} classifier over {len(version.labels)} labels "
        f"({version.stage}; accuracy {metrics.get('accuracy', 0):.3f})",
        size_bytes=path_size(folder),
        options={"namespace": version.namespace},  # /v1/models shows it to that namespace only
    )


def save_network(model: Classifier, meta: ModelMeta, path: Path) -> None:
    """PyTorch weights plus what rebuilds the network."""
    torch.save({"state": model.state_dict(), "meta": meta.to_json()}, path)


def load_network(path: Path) -> tuple[Classifier, ModelMeta]:
    """Rebuild a trained network from ``network.pt``."""
    stored = torch.load(path, map_location="cpu", weights_only=True)
    meta = ModelMeta.from_json(stored["meta"])
    classes = stored["state"]["head.weight"].shape[0]
    model = build_classifier(meta.arch, classes, meta.input_dim)  # type: ignore[arg-type]
    model.load_state_dict(stored["state"])
    model.eval()
    return model, meta


class StoredEmbeddings:
    """Body embeddings of a version's examples: ``values``, ``targets``, ``validation`` mask."""

    def __init__(self, values: np.ndarray, targets: np.ndarray, validation: np.ndarray) -> None:
        self.values, self.targets, self.validation = values, targets, validation

    def save(self, path: Path) -> None:
        np.savez(path, values=self.values, targets=self.targets, validation=self.validation)

    @classmethod
    def load(cls, path: Path) -> StoredEmbeddings:
        with np.load(path) as stored:
            return cls(stored["values"], stored["targets"], stored["validation"])
