"""``Services``: what one running Tympan owns, built once and shared by every interface.

Starting also recovers from a crash of any earlier process on the same data: jobs whose lease
lapsed are failed and dead work folders removed (``JobRunner``), half-published classifier
versions and fine-tuned models are reaped and unowned version folders deleted, training zips
made for one job that ended before unpacking them are deleted, and interrupted music model
replacements are finished or undone. Fine-tuned ASR models register from the
database. Each step is safe while other processes run.

With ``TYMPAN_RAY_ADDRESS`` set, ASR models run as Ray Serve replicas (``serving/ray.py``) and
training as Ray tasks (``serving/ray_tasks.py``); Ray is imported only then.
"""

from __future__ import annotations

from dataclasses import dataclass

from tympan.config import Settings
from tympan.drift import Windows
from tympan.models.manager import ModelManager, RemoteModels
from tympan.models.registry import ModelRegistry
from tympan.store.artifacts import ArtifactStore, recover_replaced_folders
from tympan.store.classifiers import ClassifierStore
from tympan.store.db import Database
from tympan.store.files import FileStore
from tympan.store.finetuning import FineTuningStore
from tympan.store.jobs import JobRunner, RemoteTasks
from tympan.tasks.adaptation import (
    register_fine_tuned_models,
    remove_leftover_training_files,
    remove_unpublished,
)
from tympan.tasks.classifiers.versions import remove_orphans

__all__ = ["Services"]


@dataclass(slots=True)
class Services:
    """Settings, database, artifacts, model registry and manager, background jobs, and the
    recent clips of each classifier version (drift); ``remote_tasks`` runs training on Ray
    when it is on (None: in the job's own thread)."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    registry: ModelRegistry
    manager: ModelManager
    jobs: JobRunner
    drift: Windows
    remote_tasks: RemoteTasks | None = None

    @classmethod
    def start(cls, settings: Settings) -> Services:
        """Create the data folder and tables, discover models; nothing is loaded yet."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        remote = _remote_models(settings)  # first: a cluster that cannot be reached stops here
        db = Database(settings.resolved_database_url)
        db.upgrade()
        registry = ModelRegistry.from_settings(settings)
        lease = settings.job_lease_seconds
        artifacts = ArtifactStore.from_settings(settings)
        if artifacts.shared is not None:
            artifacts.shared.check()  # an unreachable store stops here, naming the setting
        jobs = JobRunner(db, settings.data_dir / "work", lease)
        remove_orphans(ClassifierStore(db), artifacts, lease)
        fine_tuned = FineTuningStore(db)
        remove_unpublished(fine_tuned, artifacts)  # after the runner failed the dead jobs
        remove_leftover_training_files(fine_tuned, FileStore(db), artifacts)
        register_fine_tuned_models(registry, fine_tuned, artifacts, settings)
        recover_replaced_folders(settings.models_dir / "music")
        return cls(
            settings=settings,
            db=db,
            artifacts=artifacts,
            registry=registry,
            manager=ModelManager(registry, settings, remote),
            jobs=jobs,
            drift=Windows(settings.drift_window),
            remote_tasks=_remote_tasks(settings),
        )

    def close(self) -> None:
        """Finish jobs, stop inference, release the database."""
        self.jobs.close()
        self.manager.close()
        self.db.close()


def _remote_models(settings: Settings) -> RemoteModels | None:
    """Ray Serve replicas when ``ray_address`` is set; None (everything in-process) otherwise."""
    if not settings.ray_address.strip():
        return None
    from tympan.serving.ray import RayModels  # Ray is imported only when it serves

    return RayModels.connect(settings)


def _remote_tasks(settings: Settings) -> RemoteTasks | None:
    """Ray tasks (on the cluster ``_remote_models`` joined) when ``ray_address`` is set."""
    if not settings.ray_address.strip():
        return None
    from tympan.serving.ray_tasks import RayTasks

    return RayTasks()
