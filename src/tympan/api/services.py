"""``Services``: what one running Tympan owns, built once and shared by every interface."""

from __future__ import annotations

from dataclasses import dataclass

from tympan.config import Settings
from tympan.models.manager import ModelManager
from tympan.models.registry import ModelRegistry
from tympan.store.artifacts import ArtifactStore
from tympan.store.db import Database
from tympan.store.jobs import JobRunner

__all__ = ["Services"]


@dataclass(slots=True)
class Services:
    """Settings, database, artifacts, model registry and manager, background jobs."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    registry: ModelRegistry
    manager: ModelManager
    jobs: JobRunner

    @classmethod
    def start(cls, settings: Settings) -> Services:
        """Create the data folder and tables, discover models; nothing is loaded yet."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        db.create_all()
        registry = ModelRegistry.from_settings(settings)
        return cls(
            settings=settings,
            db=db,
            artifacts=ArtifactStore(settings.artifacts_dir),
            registry=registry,
            manager=ModelManager(registry, settings),
            jobs=JobRunner(db),
        )

    def close(self) -> None:
        """Finish jobs, stop inference, release the database."""
        self.jobs.close()
        self.manager.close()
        self.db.close()
