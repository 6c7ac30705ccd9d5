"""``ArtifactStore``: files the service writes (trained models, reports), under one root.

Every key is a relative path checked to stay inside the root, so no user-supplied name can
write elsewhere. Writes go to a temporary file and are renamed into place, so a crash never
leaves half an artifact behind a valid name. Folders are published the same way: their files
are gathered under ``.staging/<key>`` (flushed to disk), then the folder is renamed to ``key``
in one step, so ``key`` is either absent or complete. ``replace_folder`` does the same for a
folder that already exists (a retrained model), keeping the old one until the new is in place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from tympan.errors import Conflict, InvalidParameter

__all__ = ["ArtifactStore", "recover_replaced_folders", "replace_folder", "sha256_file"]

STAGING = ".staging"


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

    def import_file(self, key: str, source: Path, staged: bool = False) -> str:
        """Move a finished file to ``key`` (or into its staged folder); returns its SHA-256."""
        target = self.staging_path(key) if staged else self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        checksum = sha256_file(source)
        shutil.move(str(source), target)
        return checksum

    def staging_path(self, key: str) -> Path:
        """Where ``key``'s folder is assembled before ``publish`` renames it into place."""
        return self.path(f"{STAGING}/{key}")

    def publish(self, key: str) -> None:
        """Rename the staged folder of ``key`` into place, all at once; ``Conflict`` if taken."""
        staged, target = self.staging_path(key), self.path(key)
        _fsync_tree(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise Conflict(f"Artifact folder {key!r} already exists.", param="name")
        os.rename(staged, target)
        _fsync_dir(target.parent)

    def read_bytes(self, key: str) -> bytes:
        """The bytes stored at ``key``."""
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a file or folder."""
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        """Remove a file or a whole folder, published or staged (missing keys are ignored)."""
        for target in (self.path(key), self.staging_path(key)):
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_tree(folder: Path) -> None:
    """Flush every file of ``folder`` and the folder itself, so a rename publishes whole files."""
    for item in folder.rglob("*"):
        if item.is_file():
            with item.open("rb+") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def replace_folder(staged: Path, target: Path) -> None:
    """Put the finished folder ``staged`` at ``target``, replacing what is there, atomically.

    ``staged`` must be a sibling of ``target``. The old folder is renamed aside first and
    removed last; a crash between the two renames leaves it aside, and
    ``recover_replaced_folders`` puts it back, so readers find either the old or the new folder.
    """
    _fsync_tree(staged)
    aside = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.rename(target, aside)
    os.rename(staged, target)
    _fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


def recover_replaced_folders(parent: Path) -> None:
    """Finish or undo replacements a crash interrupted under ``parent`` (run at start).

    A folder set aside whose replacement never arrived is put back; other folders set aside,
    and staged folders (``.tmp-*``) that were never renamed into place, are removed.
    """
    if not parent.is_dir():
        return
    for aside in sorted(parent.glob(".old-*")):
        name = aside.name[len(".old-") :].rsplit("-", 1)[0]
        if not (parent / name).exists():
            os.rename(aside, parent / name)
        else:
            shutil.rmtree(aside, ignore_errors=True)
    for staged in parent.glob(".tmp-*"):
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
