"""``ArtifactStore``: files the service writes (trained models, reports), under one root.

Every key is a relative path checked to stay inside the root, so no user-supplied name can
write elsewhere. Writes go to a temporary file and are renamed into place, so a crash never
leaves half an artifact behind a valid name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from tympan.errors import InvalidParameter

__all__ = ["ArtifactStore", "sha256_file"]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """Atomic, traversal-safe file storage under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The absolute path for ``key``; ``InvalidParameter`` if it would leave the root."""
        candidate = (self.root / key).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise InvalidParameter(f"Artifact key {key!r} escapes the artifact store.")
        return candidate

    def write_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key`` atomically; returns its SHA-256."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return hashlib.sha256(data).hexdigest()

    def import_file(self, key: str, source: Path) -> str:
        """Move a finished file into the store at ``key`` atomically; returns its SHA-256."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        checksum = sha256_file(source)
        shutil.move(str(source), target)
        return checksum

    def read_bytes(self, key: str) -> bytes:
        """The bytes stored at ``key``."""
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a file or folder."""
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        """Remove a file or a whole folder (missing keys are ignored)."""
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
