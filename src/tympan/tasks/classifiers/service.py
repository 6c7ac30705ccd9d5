"""``ClassifierService``: training jobs, incremental updates and stages over the service's parts.

It ties the pure pieces (pipeline, incremental refit) to the database, the artifact store, the
model registry and manager, and keeps ``/v1/models`` in step: every version is a model
``name:N`` and the served one (production, else the newest) also answers to ``name``.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tympan.audio import Audio
from tympan.config import DEFAULT_NAMESPACE, Settings
from tympan.errors import Conflict, InvalidParameter, ModelNotFound, ResourceNotFound
from tympan.models.registry import ModelRegistry
from tympan.models.threads import torch_threads
from tympan.shipping import Shipment, writable_or
from tympan.store.classifiers import ClassifierStore, ClassifierVersion, Stage, served_version
from tympan.tasks.classifiers.architectures import ENCODER_ARCHITECTURES
from tympan.tasks.classifiers.augment import background_noises
from tympan.tasks.classifiers.dataset import Dataset, check_dataset, raise_for_report
from tympan.tasks.classifiers.drift import DriftReference, DriftReport, drift_report
from tympan.tasks.classifiers.evaluate import Evaluation, evaluate
from tympan.tasks.classifiers.export import export_onnx
from tympan.tasks.classifiers.features import FeatureCache
from tympan.tasks.classifiers.incremental import refit_head
from tympan.tasks.classifiers.inputs import clip_inputs, meta_shape
from tympan.tasks.classifiers.multimodal import fuse
from tympan.tasks.classifiers.pipeline import (
    TrainedVersion,
    embed_all,
    run_training,
    write_report,
)
from tympan.tasks.classifiers.text_features import TEXT_FEATURES_FILE, TextFeatures
from tympan.tasks.classifiers.train import TrainConfig
from tympan.tasks.classifiers.transcripts import TRANSCRIPT_MODEL_ID, transcribe_clips
from tympan.tasks.classifiers.versions import (
    StoredEmbeddings,
    load_network,
    publish_version,
    save_network,
    version_key,
    version_spec,
)
from tympan.tasks.speakers import GE2E_MODEL_ID

if TYPE_CHECKING:
    from tympan.api.services import Services
    from tympan.store.jobs import Job, Progress

__all__ = [
    "ENCODER_MODEL_ID",
    "ClassifierService",
    "ExamplesResult",
    "check_name",
    "ship_dataset",
    "train_elsewhere",
    "version_drift",
]

ENCODER_MODEL_ID = "whisper-tiny.en-encoder"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    """A classifier name safe as a path part and a model id; ``InvalidParameter`` otherwise."""
    if not _NAME.match(name) or ":" in name:
        raise InvalidParameter(
            "name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            param="name",
        )
    return name


@dataclass(frozen=True, slots=True)
class Draft:
    """A version's registry row before it has a number."""

    arch: str
    labels: list[str]
    metrics: dict[str, Any]
    config: dict[str, Any]
    dataset_fingerprint: str
    parent_version: int | None


@dataclass(frozen=True, slots=True)
class ExamplesResult:
    """The version an incremental update produced and what it did to the old classes."""

    name: str
    version: int
    ref: str
    label: str
    new_label: bool
    examples: int
    labels: list[str]
    old_accuracy_before: float
    old_accuracy_after: float
    new_examples_accuracy: float
    seconds: float


class ClassifierService:
    """Classifier operations over one running service's database, artifacts and models.

    Every operation sees only the classifiers of ``namespace`` (the caller's API key's); a
    name of another namespace is unknown (404), and taken (409) when training would reuse it.
    """

    def __init__(self, services: Services, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.services = services
        self.namespace = namespace
        self.store = ClassifierStore(services.db)
        self.artifacts = services.artifacts
        self.cache = FeatureCache(services.settings.models_dir / "classifier-features")

    # -- the namespace's classifiers --------------------------------------------------------

    def names(self) -> list[str]:
        """The namespace's classifier names, sorted."""
        return self.store.names(self.namespace)

    def versions(self, name: str) -> list[ClassifierVersion]:
        """Every version of the namespace's ``name``; ``ResourceNotFound`` if there is none."""
        return self.store.versions(name, self.namespace)

    def get(self, name: str, version: int | None = None) -> ClassifierVersion:
        """A version of the namespace's ``name``, or its served one when none is given.

        The database decides; a version another server on it published is registered here on
        first use, so it serves without a restart.
        """
        found = self.store.get(name, version, self.namespace)
        try:
            self.services.registry.get(found.ref)
        except ModelNotFound:
            self.sync_models(name)
        return found

    def check_name_free(self, name: str) -> None:
        """``Conflict`` (409) when another namespace owns ``name``, before any work starts."""
        if self.store.owners().get(name, self.namespace) != self.namespace:
            raise Conflict(f"The name {name!r} is taken on this server.", param="name")

    # -- registry of servable models -----------------------------------------------------

    def sync_models(self, name: str) -> None:
        """Re-register every version of ``name`` so aliases follow stage changes."""
        versions = self.store.versions(name)
        served = served_version(versions)
        for version in versions:
            self.services.registry.add(
                version_spec(
                    self.artifacts, version, version.version == served.version, self.namespace
                )
            )

    # -- training -------------------------------------------------------------------------

    def new_work_folder(self) -> Path:
        """A fresh folder for one job's uploads and outputs (removed if the process dies)."""
        return self.services.jobs.new_work_folder()

    def submit_training(self, name: str, dataset: Dataset, config: TrainConfig, work: Path) -> Job:
        """Check the dataset now (400 with every problem), then train in a background job.

        ``work`` (from ``new_work_folder``) is removed when the job ends.
        """
        check_name(name)
        config.validate()
        raise_for_report(check_dataset(dataset))
        self.store.claim(name, self.namespace)  # the name is this namespace's from now on

        def job(progress: Progress) -> dict[str, Any]:
            return self.train(name, dataset, config, work / "version", progress)

        params = {
            "name": name,
            "namespace": self.namespace,  # GET /v1/jobs/{id} shows it to this namespace only
            "examples": len(dataset.examples),
            **config.to_dict(),
        }
        return self.services.jobs.submit("classifier-training", job, params, work_folder=work)

    def _encoder(self) -> Any:
        return self.services.manager.use(ENCODER_MODEL_ID)

    def _asr(self) -> Any:
        """The bundled Whisper that transcribes clips for ``multimodal`` (leased)."""
        return self.services.manager.use(TRANSCRIPT_MODEL_ID, task="asr")

    def train(
        self, name: str, dataset: Dataset, config: TrainConfig, folder: Path, progress: Progress
    ) -> dict[str, Any]:
        """Train a version of ``name`` (the job's work); returns the version's summary."""
        settings = self.services.settings
        max_seconds = settings.max_audio_seconds
        remote = self.services.remote_tasks
        try:
            if remote is not None:
                shipment, portable = ship_dataset(dataset)
                trained, output = remote.run(
                    train_elsewhere,
                    shipment,
                    portable,
                    config,
                    self.cache.folder.resolve(),
                    settings.model_copy(
                        update={
                            "data_dir": settings.data_dir.resolve(),
                            "cpu_threads": settings.ray_training_cpus,
                            "ray_address": "",
                        }
                    ),
                    _noises(settings),
                    num_cpus=settings.ray_training_cpus,
                    progress=progress,
                )
                trained = replace(trained, folder=output.unpack(folder))
            else:
                with ExitStack() as models:
                    encoder = speaker_encoder = asr = None
                    if config.arch in ENCODER_ARCHITECTURES:
                        encoder = models.enter_context(self._encoder()).handle
                    if not dataset.has_speakers:  # estimate them from the clips' voices
                        leased = models.enter_context(self.services.manager.use(GE2E_MODEL_ID))
                        speaker_encoder = leased.handle
                    if config.arch == "multimodal":
                        asr = models.enter_context(self._asr()).handle
                    trained = run_training(
                        dataset,
                        config,
                        folder,
                        self.cache,
                        encoder,
                        max_seconds,
                        progress,
                        speaker_encoder,
                        _noises(settings),
                        asr,
                    )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        stored = self._publish(
            name,
            trained.folder,
            Draft(
                arch=config.arch,
                labels=trained.labels,
                metrics=trained.metrics,
                config=trained.config,
                dataset_fingerprint=dataset.fingerprint,
                parent_version=None,
            ),
            trained.evaluation,
            trained.context,
            trained.curves,
        )
        return _summary(stored)

    def _publish(
        self,
        name: str,
        folder: Path,
        draft: Draft,
        evaluation: Evaluation,
        context: dict[str, Any],
        curves: dict[str, list[float]] | None,
    ) -> ClassifierVersion:
        """Number the version, write its report, move its files in, record it; all or nothing."""

        def finish(ref: str) -> None:
            write_report(folder, ref, draft.arch, evaluation, context, curves)

        stored = publish_version(
            self.store, self.artifacts, name, folder, finish, asdict(draft), self.namespace
        )
        self.sync_models(name)
        return stored

    # -- stages ---------------------------------------------------------------------------

    def promote(self, name: str, version: int, stage: Stage) -> ClassifierVersion:
        """Move a version of the namespace's ``name`` to ``stage``."""
        self.versions(name)  # 404 outside the namespace
        result = self.store.promote(name, version, stage)
        self.sync_models(name)
        return result

    def rollback(self, name: str) -> ClassifierVersion:
        """Restore the previous production version of the namespace's ``name``."""
        self.versions(name)  # 404 outside the namespace
        result = self.store.rollback(name)
        self.sync_models(name)
        return result

    # -- incremental ----------------------------------------------------------------------

    def add_examples(
        self, name: str, label: str, audios: list[Audio], version: int | None = None
    ) -> ExamplesResult:
        """Refit the head of ``name`` (served version unless given) with new examples."""
        started = time.perf_counter()
        label = label.strip()
        if not label or len(label) > 100:
            raise InvalidParameter("label must be 1-100 characters.", param="label")
        base = self.get(name, version)
        folder = self.artifacts.fetch(version_key(name, base.version))
        model, meta = load_network(folder / "network.pt")
        stored = StoredEmbeddings.load(folder / "embeddings.npz")
        shape = meta_shape(meta)
        text_path = folder / TEXT_FEATURES_FILE
        with torch_threads(1):
            if meta.frames is None:
                with self._encoder() as encoder:
                    inputs = clip_inputs(audios, shape, encoder.handle)
            else:
                inputs = clip_inputs(audios, shape, None)
            if text_path.is_file():  # multimodal: what the new clips say, too
                with self._asr() as asr:
                    transcripts = transcribe_clips(asr.handle, audios)
                inputs = fuse(inputs, TextFeatures.load(text_path), transcripts)
            new_embeddings = embed_all(model, inputs)
            refit = refit_head(
                model,
                meta.labels,
                stored.values,
                stored.targets,
                stored.validation,
                new_embeddings,
                label,
            )
            model.replace_head(refit.weight, refit.bias)
        new_meta = replace(meta, labels=refit.labels)
        work = self.new_work_folder()
        try:
            export_onnx(model, shape.shape, work / "model.onnx")
            (work / "meta.json").write_text(new_meta.to_json())
            save_network(model, new_meta, work / "network.pt")
            new_index = refit.labels.index(label)
            StoredEmbeddings(
                np.concatenate([stored.values, new_embeddings]),
                np.concatenate([stored.targets, np.full(len(audios), new_index)]),
                np.concatenate([stored.validation, np.zeros(len(audios), bool)]),
            ).save(work / "embeddings.npz")
            for kept in ("drift.npz", TEXT_FEATURES_FILE):  # the parent's body and inputs
                if (folder / kept).is_file():
                    shutil.copyfile(folder / kept, work / kept)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        held = stored.validation
        with torch.no_grad():
            predictions = model.head(torch.from_numpy(stored.values[held])).argmax(dim=1).numpy()
        evaluation = evaluate(stored.targets[held], predictions, refit.labels)
        notes = {
            "parent": base.ref,
            "added": f"{len(audios)} examples of {label!r}",
            "old_accuracy_before": refit.old_accuracy_before,
            "old_accuracy_after": refit.old_accuracy_after,
            "new_examples_accuracy": refit.new_examples_accuracy,
        }
        parent = json.loads((folder / "report.json").read_text())
        context = {key: parent[key] for key in ("split", "dataset", "dataset_fingerprint")}
        metrics = {
            "accuracy": evaluation.accuracy,
            "macro_f1": evaluation.macro_f1,
            "validation_examples": evaluation.examples,
            **notes,
        }
        draft = Draft(
            arch=meta.arch,
            labels=refit.labels,
            metrics=metrics,
            config={**base.config, "incremental": True},
            dataset_fingerprint=base.dataset_fingerprint,
            parent_version=base.version,
        )
        published = self._publish(name, work, draft, evaluation, {**context, "notes": notes}, None)
        return ExamplesResult(
            name=name,
            version=published.version,
            ref=published.ref,
            label=label,
            new_label=label not in meta.labels,
            examples=len(audios),
            labels=refit.labels,
            old_accuracy_before=refit.old_accuracy_before,
            old_accuracy_after=refit.old_accuracy_after,
            new_examples_accuracy=refit.new_examples_accuracy,
            seconds=round(time.perf_counter() - started, 3),
        )

    # -- reading --------------------------------------------------------------------------

    def artifact(self, name: str, version: int | None, file: str) -> Path:
        """A file of a version's folder; ``ResourceNotFound`` if it has no such file."""
        item = self.get(name, version)
        folder = version_key(name, item.version)
        self.artifacts.fetch(folder)
        path = self.artifacts.path(f"{folder}/{file}")  # InvalidParameter if it leaves it
        if not path.is_file():
            raise ResourceNotFound(f"{item.ref} has no {file}.", param="file")
        return path

    def drift(self, name: str, version: int | None = None) -> DriftReport:
        """How the recent clips of a version (the served one unless given) compare with its
        validation clips."""
        return version_drift(self.services, name, self.get(name, version).version)


def ship_dataset(dataset: Dataset) -> tuple[Shipment, Dataset]:
    """The dataset's audio by value, and the dataset naming its clips inside that shipment
    (what ``train_elsewhere`` unpacks on another machine). The fingerprint is kept, so
    features cached for it are found."""
    shipment, names = Shipment.of_files(
        [example.path for example in dataset.examples], dataset.root
    )
    examples = [
        replace(example, path=Path(name))
        for example, name in zip(dataset.examples, names, strict=True)
    ]
    return shipment, replace(dataset, examples=examples, root=Path())


def train_elsewhere(
    shipment: Shipment,
    dataset: Dataset,
    config: TrainConfig,
    cache_folder: Path,
    settings: Settings,
    noises: list[np.ndarray],
    progress: Progress,
) -> tuple[TrainedVersion, Shipment]:
    """``run_training`` in a process of its own, on any machine (a Ray task,
    ``TYMPAN_RAY_ADDRESS``): the dataset (``ship_dataset``) is unpacked into a folder of this
    machine, the encoders are loaded here by the registry's loader, and the version's files come
    back as a shipment, its ``folder`` to be set where they are unpacked.

    Features are cached in ``cache_folder`` when this machine can write there (the API's own
    cache when it runs on the same machine), else only for this run."""
    registry = ModelRegistry.from_settings(settings)
    encoder = speaker_encoder = asr = None
    if config.arch in ENCODER_ARCHITECTURES:
        encoder = registry.get(ENCODER_MODEL_ID).load()
    if not dataset.has_speakers:
        speaker_encoder = registry.get(GE2E_MODEL_ID).load()
    if config.arch == "multimodal":
        asr = registry.get(TRANSCRIPT_MODEL_ID, task="asr").load()
    with tempfile.TemporaryDirectory(prefix="tympan-training-") as scratch:
        work = Path(scratch)
        root = shipment.unpack(work / "dataset")
        local = replace(
            dataset,
            examples=[replace(example, path=root / example.path) for example in dataset.examples],
            root=root,
        )
        trained = run_training(
            local,
            config,
            work / "version",
            FeatureCache(writable_or(cache_folder, work / "features")),
            encoder,
            settings.max_audio_seconds,
            progress,
            speaker_encoder,
            noises,
            asr,
        )
        return replace(trained, folder=Path()), Shipment.of_folder(trained.folder)


def _noises(settings: Settings) -> list[np.ndarray]:
    """The background recordings augmented copies mix in (``TYMPAN_CLASSIFIER_NOISE_DIR``)."""
    return background_noises(settings.classifier_noise_dir, settings.max_audio_seconds)


def version_drift(services: Services, name: str, version: int) -> DriftReport:
    """The drift report of ``name:version`` from this process's recent clips of it."""
    path = services.artifacts.fetch(version_key(name, version)) / "drift.npz"
    reference = _drift_reference(path) if path.is_file() else None
    settings = services.settings
    return drift_report(
        name,
        f"{name}:{version}",
        reference,
        services.drift,
        settings.drift_threshold,
        settings.drift_min_samples,
    )


@functools.lru_cache(maxsize=256)
def _drift_reference(path: Path) -> DriftReference:
    """A published version's reference, read once: its files never change, and every scrape
    of ``/metrics`` asks for the reference of each version with recent clips."""
    return DriftReference.load(path)


def _summary(version: ClassifierVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "ref": version.ref,
        "arch": version.arch,
        "labels": version.labels,
        "metrics": version.metrics,
    }
