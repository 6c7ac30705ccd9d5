"""Safe extraction of an uploaded dataset zip into the job's own folder.

Every member is checked before anything is written: names that are absolute, climb with
``..``, use backslashes or drive letters, or are symbolic links make the whole archive invalid
(400); member counts and declared sizes over the limits (a zip bomb) are refused (413) from the
central directory alone. Extraction reads each member through ``zipfile``, which stops at
the declared size and checks the CRC, so a lying member cannot write more than was checked.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tympan.config import Settings
from tympan.errors import InvalidDataset, PayloadTooLarge

__all__ = ["ArchiveLimits", "check_archive", "extract_archive"]


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """What an uploaded dataset may hold once unpacked (each limit is a setting, named in
    its refusal)."""

    max_members: int = 50_000  # TYMPAN_MAX_DATASET_FILES
    max_member_bytes: int = 200 * 1024 * 1024  # TYMPAN_MAX_UPLOAD_BYTES
    max_total_bytes: int = 2 * 1024 * 1024 * 1024  # TYMPAN_MAX_DATASET_BYTES
    max_ratio: float = 200.0  # TYMPAN_MAX_ZIP_RATIO: declared / compressed size of one member

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveLimits:
        """The limits a service is configured with."""
        return cls(
            max_members=settings.max_dataset_files,
            max_member_bytes=settings.max_upload_bytes,
            max_total_bytes=settings.max_dataset_bytes,
            max_ratio=settings.max_zip_ratio,
        )


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        "\\" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in path.parts)
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def check_archive(path: Path, limits: ArchiveLimits = ArchiveLimits()) -> list[zipfile.ZipInfo]:
    """The file members of a zip, after checking names and declared sizes.

    ``InvalidDataset`` (400) for a file that is not a zip or holds unsafe names;
    ``PayloadTooLarge`` (413) when counts or declared sizes exceed ``limits``.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidDataset(
            f"The dataset is not a readable zip file: {exc}", param="file"
        ) from exc
    unsafe = [info.filename for info in members if _unsafe_name(info.filename) or _is_symlink(info)]
    if unsafe:
        raise InvalidDataset(
            f"The zip holds unsafe entries (absolute, '..' or links): {unsafe[:5]}", param="file"
        )
    files = [info for info in members if not info.is_dir()]
    if len(files) > limits.max_members:
        raise PayloadTooLarge(
            f"The zip holds {len(files)} files; the limit is {limits.max_members} "
            "(TYMPAN_MAX_DATASET_FILES).",
            param="file",
        )
    total = 0
    for info in files:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.max_member_bytes:
            raise PayloadTooLarge(
                f"Zip member {info.filename!r} declares {info.file_size} bytes, over "
                f"{limits.max_member_bytes} (TYMPAN_MAX_UPLOAD_BYTES); refused before extraction.",
                param="file",
            )
        if ratio > limits.max_ratio:
            raise PayloadTooLarge(
                f"Zip member {info.filename!r} declares a compression ratio of {ratio:.0f}, over "
                f"{limits.max_ratio:g} (TYMPAN_MAX_ZIP_RATIO); refused before extraction.",
                param="file",
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise PayloadTooLarge(
            f"The zip unpacks to {total} bytes; the limit is {limits.max_total_bytes} "
            "(TYMPAN_MAX_DATASET_BYTES).",
            param="file",
        )
    return files


def extract_archive(path: Path, target: Path, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Check, then unpack the zip at ``path`` into ``target`` (created); returns ``target``."""
    files = check_archive(path, limits)
    root = target.resolve()
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as archive:
        for info in files:
            destination = (root / info.filename).resolve()
            if root not in destination.parents:  # belt and braces after the name check
                raise InvalidDataset(f"Unsafe zip entry {info.filename!r}.", param="file")
            destination.parent.mkdir(parents=True, exist_ok=True)
            # zipfile stops each member at its declared size and checks its CRC.
            try:
                with archive.open(info) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, length=1 << 20)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise InvalidDataset(f"Zip member {info.filename!r} is corrupt: {exc}") from exc
    return root
