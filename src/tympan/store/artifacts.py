"""``ArtifactStore``: files the service writes (trained models, reports), under one root.

Every key is a relative path checked to stay inside the root, so no user-supplied name can
write elsewhere. Writes go to a temporary file and are renamed into place, so a crash never
leaves half an artifact behind a valid name. Folders are published the same way: their files
are gathered under ``.staging/<key>`` (flushed to disk), then the folder is renamed to ``key``
in one step, so ``key`` is either absent or complete. ``replace_folder`` does the same for a
folder that already exists (a retrained model), keeping the old one until the new is in place.

With an object store (``TYMPAN_ARTIFACT_URL=s3://...``) the root is this server's copy and
every write is also uploaded under the same key; ``fetch`` downloads what another server wrote
the first time it is read. Object stores cannot rename, so a published folder's files are
uploaded one by one; that is safe because the database row that makes a version visible is
written only after ``publish`` returns, and folders that no row owns are swept
(``folders``, ``delete``). A file's key is a fresh id, so its local copy never goes stale; a
version number can come back after a delete, so a folder's copy is checked against its stamp.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from tympan.config import Settings
from tympan.errors import ArtifactStoreUnavailable, Conflict, InvalidParameter

__all__ = [
    "ArtifactStore",
    "SharedFolder",
    "recover_replaced_folders",
    "replace_folder",
    "sha256_file",
]

STAGING = ".staging"
_RETRY_SECONDS = 5.0  # a 503 for a store that did not answer: try again after
_STAMP = ".published"  # in an object store's folders: the id of the upload that completed it


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SharedFolder:
    """The object-store side of the artifacts: keys under an fsspec URL (``s3://bucket/prefix``).

    A store that does not answer (down, unreachable, refusing the credentials) raises
    ``ArtifactStoreUnavailable`` (503, naming the settings) from every method, so the request
    that needed it fails cleanly and can be retried, and the server goes on answering; a key
    that is absent stays ``FileNotFoundError``.
    """

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.fs, base = url_to_fs(url, **options)
        self.base = base.rstrip("/")

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, ArtifactStoreUnavailable):
            raise
        except Exception as exc:  # each filesystem raises its own (botocore, aiohttp, ...)
            raise ArtifactStoreUnavailable(
                f"Cannot reach the artifact store {self.url!r} (TYMPAN_ARTIFACT_URL, "
                f"TYMPAN_ARTIFACT_OPTIONS): {exc}",
                retry_after=_RETRY_SECONDS,
            ) from exc

    def check(self) -> None:
        """``ArtifactStoreUnavailable`` naming the settings unless the store answers and its
        bucket (the URL's first part) exists; an empty prefix is fine (a new deployment)."""
        bucket = self.base.split("/")[0]
        with self._answering():
            try:
                self.fs.info(bucket)  # not ``exists``, which answers False when nothing answers
            except FileNotFoundError as exc:
                raise ArtifactStoreUnavailable(
                    f"The artifact store {self.url!r} (TYMPAN_ARTIFACT_URL) has no bucket "
                    f"{bucket!r}: create it first."
                ) from exc

    def _url(self, key: str) -> str:
        return f"{self.base}/{key}"

    def exists(self, key: str) -> bool:
        with self._answering():
            self.fs.invalidate_cache()  # another server may have written it since
            return bool(self.fs.exists(self._url(key)))

    def upload(self, local: Path, key: str) -> None:
        """Copy a file, or every file of a folder, to ``key``."""
        with self._answering():
            if local.is_file():
                self.fs.put_file(str(local), self._url(key))
                return
            for item in sorted(local.rglob("*")):
                if item.is_file():
                    self.fs.put_file(
                        str(item), self._url(f"{key}/{item.relative_to(local).as_posix()}")
                    )

    def download(self, key: str, local: Path) -> None:
        """Copy the file or folder at ``key`` to ``local`` (which must not exist)."""
        url = self._url(key)
        with self._answering():
            if not self.fs.isdir(url):
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(url, str(local))
                return
            for remote in self.fs.find(url):
                target = local / remote[len(url) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(target))

    def read_text(self, key: str) -> str | None:
        """The text at ``key`` (None when absent)."""
        with self._answering():
            try:
                return str(self.fs.cat_file(self._url(key)).decode())
            except FileNotFoundError:
                return None

    def delete(self, key: str) -> None:
        if self.exists(key):
            with self._answering():
                self.fs.rm(self._url(key), recursive=True)

    def size(self, key: str) -> int:
        if not self.exists(key):
            return 0
        with self._answering():
            return int(self.fs.du(self._url(key)))

    def folders(self, prefix: str, depth: int) -> set[str]:
        """Keys ``depth`` levels under ``prefix`` that hold files."""
        root = self._url(prefix)
        with self._answering():
            self.fs.invalidate_cache()
            if not self.fs.exists(root):
                return set()
            remotes = self.fs.find(root)
        found = set()
        for remote in remotes:
            parts = remote[len(root) + 1 :].split("/")
            if len(parts) > depth:
                found.add("/".join([prefix, *parts[:depth]]))
        return found


class ArtifactStore:
    """Atomic, traversal-safe file storage under ``root``, mirrored to ``shared`` if given."""

    def __init__(self, root: Path, shared: SharedFolder | None = None) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.shared = shared

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        """The store ``artifact_url`` names (with its object store, if it is one)."""
        url = settings.shared_artifact_url
        shared = SharedFolder(url, dict(settings.artifact_options)) if url else None
        return cls(settings.artifacts_dir, shared)

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
        if self.shared is not None:
            self.shared.upload(target, key)
        return hashlib.sha256(data).hexdigest()

    def import_file(self, key: str, source: Path, staged: bool = False) -> str:
        """Move a finished file to ``key`` (or into its staged folder); returns its SHA-256."""
        target = self.staging_path(key) if staged else self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        checksum = sha256_file(source)
        shutil.move(str(source), target)
        if self.shared is not None and not staged:
            self.shared.upload(target, key)
        return checksum

    def staging_path(self, key: str) -> Path:
        """Where ``key``'s folder is assembled before ``publish`` renames it into place."""
        return self.path(f"{STAGING}/{key}")

    def publish(self, key: str) -> None:
        """Rename the staged folder of ``key`` into place, all at once; ``Conflict`` if taken.

        With an object store, its files are uploaded first and a stamp last (``_STAMP``, a
        fresh id): a folder there is complete when its stamp is, and a server's copy is
        current while its stamp matches (a version number freed by a delete can come back).
        """
        staged, target = self.staging_path(key), self.path(key)
        _fsync_tree(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.exists(key):
            raise Conflict(f"Artifact folder {key!r} already exists.", param="name")
        if self.shared is not None:
            self.shared.upload(staged, key)
            stamp = staged / _STAMP
            stamp.write_text(uuid.uuid4().hex)
            self.shared.upload(stamp, f"{key}/{_STAMP}")
            _remove(target)  # a copy of a deleted folder of the same key
        os.rename(staged, target)
        _fsync_dir(target.parent)

    def fetch(self, key: str) -> Path:
        """``path(key)`` of a published folder or a single file, first copied from the object
        store when this server has no current copy (the path may not exist: a key nobody
        wrote, or a folder still uploading). Files inside a folder are read through the
        folder's own key (``fetch(folder) / name``), so its stamp is checked."""
        target = self.path(key)
        if self.shared is None:
            return target
        if target.is_dir():
            local = target / _STAMP
            if local.is_file() and self.shared.read_text(f"{key}/{_STAMP}") == local.read_text():
                return target
            _remove(target)  # deleted, or replaced by a new folder under the same key
        elif target.exists():
            return target  # single files are never rewritten (their keys are fresh ids)
        if not self.shared.exists(key):
            return target
        landing = self.path(f"{STAGING}/.fetch-{uuid.uuid4().hex}")
        try:
            self.shared.download(key, landing)
            if landing.is_file() or (landing / _STAMP).is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    os.rename(landing, target)  # a concurrent fetch may have landed it first
        finally:
            _remove(landing)
        return target

    def read_bytes(self, key: str) -> bytes:
        """The bytes stored at ``key``."""
        return self.fetch(key).read_bytes()

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a file or folder (in the object store, when there is one: this
        server's copies are only a cache)."""
        if self.shared is not None:
            return self.shared.exists(key)
        return self.path(key).exists()

    def size(self, key: str) -> int:
        """Bytes under ``key`` (0 when absent), without fetching it."""
        target = self.path(key)
        if target.exists():
            return int(LocalFileSystem().du(str(target)))
        return self.shared.size(key) if self.shared is not None else 0

    def folders(self, prefix: str, depth: int = 2) -> set[str]:
        """Published folders ``depth`` levels under ``prefix`` (``classifiers/<name>/<n>``)."""
        if self.shared is not None:
            return self.shared.folders(prefix, depth)
        return {
            item.relative_to(self.root).as_posix()
            for item in self.path(prefix).glob("/".join(["*"] * depth))
        }

    def delete(self, key: str) -> None:
        """Remove a file or a whole folder, published or staged, here and in the object store
        (missing keys are ignored)."""
        for target in (self.path(key), self.staging_path(key)):
            _remove(target)
        if self.shared is not None:
            self.shared.delete(key)


def _remove(target: Path) -> None:
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
