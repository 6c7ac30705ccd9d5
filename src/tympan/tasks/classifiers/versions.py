"""A version's files: writing them into the artifact store and loading them to serve.

Layout under ``classifiers/<name>/<version>/``: ``model.onnx`` (served; ``model.int8.onnx``
too when quantised), ``network.pt`` (PyTorch weights, for incremental updates),
``embeddings.npz`` (body embeddings of the examples, for head refits), ``meta.json``,
``report.json``, ``report.md``, ``confusion.png``, ``curves.png``; ``text_features.json`` for
``multimodal`` (the transcripts' TF-IDF vocabularies).

Publishing is all or nothing, whatever the instant of a crash: the database reserves the
number, the files are gathered under the artifact store's staging area, and the folder is
renamed into place in the same transaction that turns the reservation into a version. At start,
``remove_orphans`` reaps reservations whose publisher died and deletes folders no row owns.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tympan.config import DEFAULT_NAMESPACE
from tympan.models.spec import ModelSpec
from tympan.store.artifacts import ArtifactStore
from tympan.store.classifiers import ABANDONED, PUBLISHING, ClassifierStore, ClassifierVersion
from tympan.tasks.classifiers.architectures import Classifier, build_classifier
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier
from tympan.tasks.classifiers.text_features import TEXT_FEATURES_FILE, TextFeatures

__all__ = [
    "CLASSIFIER_TASK",
    "StoredEmbeddings",
    "load_network",
    "publish_version",
    "remove_orphans",
    "served_model",
    "version_key",
    "version_spec",
]

CLASSIFIER_TASK = "audio-classification"


def version_key(name: str, version: int) -> str:
    """The artifact folder of a version."""
    return f"classifiers/{name}/{version}"


def publish_version(
    store: ClassifierStore,
    artifacts: ArtifactStore,
    name: str,
    folder: Path,
    finish: Callable[[str], None],
    fields: dict[str, Any],
    namespace: str = DEFAULT_NAMESPACE,
) -> ClassifierVersion:
    """Number and publish the version whose files are in ``folder``; all or nothing.

    ``finish(ref)`` completes the folder once its ``name:N`` is known (the report names it).
    The work ``folder`` is consumed either way.
    """
    version = store.reserve_version(name, namespace)
    key = version_key(name, version)
    try:
        finish(f"{name}:{version}")
        store.renew_reservation(name, version)
        checksums = {
            item.name: artifacts.import_file(f"{key}/{item.name}", item, staged=True)
            for item in sorted(folder.iterdir())
            if item.is_file()
        }
        return store.complete_version(
            name, version, lambda: artifacts.publish(key), artifacts=checksums, **fields
        )
    except BaseException:
        store.release_reservation(name, version, lambda: artifacts.delete(key))
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_orphans(store: ClassifierStore, artifacts: ArtifactStore, lease_seconds: float) -> None:
    """Reap dead publishers' reservations, then delete version folders that no row owns."""

    def remove_files(name: str, version: int) -> None:
        artifacts.delete(version_key(name, version))

    def remove_unowned(stages: dict[tuple[str, int], str]) -> None:
        def stage(name: str, number: str) -> str:
            return stages.get((name, int(number) if number.isdigit() else 0), ABANDONED)

        for key in artifacts.folders("classifiers"):
            if stage(*key.split("/")[-2:]) == ABANDONED:
                artifacts.delete(key)
        for folder in artifacts.staging_path("classifiers").glob("*/*"):
            if stage(folder.parent.name, folder.name) != PUBLISHING:
                shutil.rmtree(folder, ignore_errors=True)

    store.reap_reservations(lease_seconds, remove_files)
    store.sweep(remove_unowned)


def served_model(artifacts: ArtifactStore, version: ClassifierVersion) -> OnnxClassifier:
    """The onnxruntime runner of a version (the int8 graph when it was quantised), with its
    text features when it is ``multimodal``."""
    folder = artifacts.fetch(version_key(version.name, version.version))
    meta = ModelMeta.from_json((folder / "meta.json").read_text())
    graph = "model.int8.onnx" if (folder / "model.int8.onnx").is_file() else "model.onnx"
    text_path = folder / TEXT_FEATURES_FILE
    text = TextFeatures.load(text_path) if text_path.is_file() else None
    return OnnxClassifier(folder / graph, meta, text=text)


def version_spec(
    artifacts: ArtifactStore, version: ClassifierVersion, served: bool, namespace: str
) -> ModelSpec:
    """The ``ModelSpec`` of a version (``name:N``; the served one also answers to ``name``),
    listed by ``/v1/models`` to ``namespace`` only."""
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
        size_bytes=artifacts.size(version_key(version.name, version.version)),
        options={"namespace": namespace},
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
