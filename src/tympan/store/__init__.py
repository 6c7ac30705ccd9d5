"""Persistence: the database (SQLAlchemy), the artifact store, and the stores built on them."""

from tympan.store.artifacts import ArtifactStore, sha256_file
from tympan.store.db import Base, Database

__all__ = ["ArtifactStore", "Base", "Database", "sha256_file"]
