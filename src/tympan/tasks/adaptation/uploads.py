"""Fine-tuning datasets as uploaded files (``/v1/files``): a zip of audio clips and a manifest.

The zip holds ``manifest.csv`` or ``manifest.jsonl`` at its top, or inside its one top folder
(what zipping a folder gives), with the clips it names. Uploads are checked from the zip's
central directory alone (``tasks/classifiers/archive.py``: unsafe names, member count, sizes,
zip bombs, each limit naming its setting) and must hold a manifest; the rows and the audio are
read when a job starts (``tympan.tasks.adaptation.dataset.read_manifest``).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import InvalidDataset, InvalidParameter, ResourceNotFound
from tympan.store.artifacts import ArtifactStore, sha256_file
from tympan.store.db import utc_now
from tympan.store.files import FileStore, StoredFile, file_key, new_file_id
from tympan.store.finetuning import FineTuningStore
from tympan.tasks.classifiers.archive import ArchiveLimits, check_archive, extract_archive

if TYPE_CHECKING:
    from tympan.api.services import Services

__all__ = [
    "FILE_PURPOSE",
    "MANIFESTS",
    "DatasetFiles",
    "check_dataset_zip",
    "delete_file",
    "remove_leftover_training_files",
    "unpack_dataset",
]

FILE_PURPOSE = "fine-tune"

MANIFESTS = ("manifest.csv", "manifest.jsonl")


def _manifest_folder(names: list[str]) -> PurePosixPath:
    """The folder of the zip's manifest: its top, or its one top folder; 400 otherwise."""
    paths = [PurePosixPath(name) for name in names]
    for folder in (PurePosixPath(), *{path.parents[-2] for path in paths if len(path.parts) > 1}):
        if any(path.parent == folder and path.name in MANIFESTS for path in paths):
            return folder
    raise InvalidDataset(
        "The zip holds no manifest.csv or manifest.jsonl (columns audio,text[,speaker]) at its "
        "top or in its one top folder.",
        param="file",
    )


def check_dataset_zip(path: Path, limits: ArchiveLimits) -> None:
    """Refuse a file that is not a safe zip within ``limits`` (400/413) or has no manifest."""
    _manifest_folder([info.filename for info in check_archive(path, limits)])


def unpack_dataset(path: Path, target: Path, limits: ArchiveLimits) -> Path:
    """Unpack a dataset zip into ``target``; returns the folder that holds its manifest."""
    folder = _manifest_folder([info.filename for info in check_archive(path, limits)])
    return extract_archive(path, target, limits) / folder


class DatasetFiles:
    """The uploaded files of one namespace (``/v1/files``): rows in the database, bytes in
    the artifact store; another namespace's ids are unknown (404)."""

    def __init__(self, services: Services, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._services = services
        self.namespace = namespace
        self.store = FileStore(services.db)
        self.limits = ArchiveLimits.from_settings(services.settings)

    def add(self, source: BinaryIO, filename: str, purpose: str) -> StoredFile:
        """Store an upload after checking it (a dataset zip within the limits, with a
        manifest); 400/413 leave nothing behind."""
        if purpose != FILE_PURPOSE:
            raise InvalidParameter(
                f"purpose must be {FILE_PURPOSE!r} (a zip of audio clips and manifest.csv or "
                f"manifest.jsonl); got {purpose!r}.",
                param="purpose",
            )
        work = self._services.jobs.new_work_folder()
        try:
            upload = work / "upload.zip"
            with upload.open("wb") as sink:
                shutil.copyfileobj(source, sink, length=1 << 20)
            check_dataset_zip(upload, self.limits)
            file_id = new_file_id()
            size, checksum = upload.stat().st_size, sha256_file(upload)
            self._services.artifacts.import_file(file_key(file_id), upload)
            stored = StoredFile(
                file_id, self.namespace, filename[:300], purpose, size, checksum, utc_now()
            )
            return self.store.add(stored)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def get(self, file_id: str) -> StoredFile:
        """A file of the namespace; 404 otherwise."""
        return self.store.get(file_id, self.namespace)

    def path(self, file_id: str) -> Path:
        """Where a file's bytes are (404 for another namespace's)."""
        return self._services.artifacts.fetch(file_key(self.get(file_id).id))

    def list(
        self, purpose: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[StoredFile]:
        """The namespace's files, newest first (after the file ``after``)."""
        return self.store.list(self.namespace, purpose, limit, after)

    def delete(self, file_id: str) -> StoredFile:
        """Forget a file, then remove its bytes."""
        return delete_file(self.store, self._services.artifacts, file_id, self.namespace)


def delete_file(
    store: FileStore, artifacts: ArtifactStore, file_id: str, namespace: str
) -> StoredFile:
    """Forget a file of ``namespace`` (404 if it has none), then remove its bytes."""
    deleted = store.delete(file_id, namespace)
    artifacts.delete(file_key(deleted.id))
    return deleted


def remove_leftover_training_files(
    jobs: FineTuningStore, store: FileStore, artifacts: ArtifactStore
) -> None:
    """Delete the training files made for one job alone whose job ended before unpacking
    them (a corrections batch queued when its server stopped); run at start."""
    for namespace, file_id in jobs.leftover_training_files():
        with contextlib.suppress(ResourceNotFound):  # another server deleted it first
            delete_file(store, artifacts, file_id, namespace)
