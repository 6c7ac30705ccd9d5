"""Fine-tuning datasets as uploaded files: a zip of audio clips and a manifest.

The zip holds ``manifest.csv`` or ``manifest.jsonl`` at its top, or inside its one top folder
(what zipping a folder gives), with the clips it names. Uploads are checked from the zip's
central directory alone (``tasks/classifiers/archive.py``: unsafe names, member count, sizes,
zip bombs, each limit naming its setting) and must hold a manifest; the rows and the audio are
read when a job starts (``tympan.tasks.adaptation.dataset.read_manifest``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tympan.errors import InvalidDataset
from tympan.tasks.classifiers.archive import ArchiveLimits, check_archive, extract_archive

__all__ = ["MANIFESTS", "check_dataset_zip", "unpack_dataset"]

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
