"""``Shipment``: files carried by value, so a task on another machine needs no shared folder.

A training job's Ray task (``serving/ray_tasks.py``) may run on any node of the cluster. The
API process holds the job's inputs (an unpacked dataset, a base model, background noises) on
its own disk, and the job's outputs must come back to it to be published. Rather than ask every
node to mount the same folders at the same paths, the job packs what the task reads into a
``Shipment`` argument and the task returns what it wrote as one: Ray carries both through its
object store, which spills to disk for large ones. On one machine the copies cost a few
hundred milliseconds against minutes of training. A shipment is whole in memory while it is
built or unpacked: a dataset at the ``max_dataset_bytes`` limit (2 GiB) takes that much in the
API process for a moment.

Names inside a shipment are relative POSIX paths; ``unpack`` refuses any that would leave the
folder it unpacks into, since a shipment crosses a process boundary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["Shipment", "writable_or"]


@dataclass(frozen=True, slots=True)
class Shipment:
    """Files by relative name and content."""

    files: dict[str, bytes]

    @classmethod
    def of_folder(cls, folder: Path) -> Shipment:
        """Every file under ``folder``, named relative to it."""
        return cls(
            {
                path.relative_to(folder).as_posix(): path.read_bytes()
                for path in sorted(folder.rglob("*"))
                if path.is_file()
            }
        )

    @classmethod
    def of_files(cls, paths: Sequence[Path], root: Path) -> tuple[Shipment, list[str]]:
        """``paths`` and the name each gets: relative to ``root`` where it is under it (so the
        unpacked copy keeps the layout), else numbered apart."""
        names = [
            path.relative_to(root).as_posix()
            if path.is_relative_to(root)
            else f".outside/{index}/{path.name}"
            for index, path in enumerate(paths)
        ]
        return cls(
            {name: path.read_bytes() for name, path in zip(names, paths, strict=True)}
        ), names

    @property
    def size(self) -> int:
        """Bytes carried."""
        return sum(len(content) for content in self.files.values())

    def unpack(self, into: Path) -> Path:
        """Write every file under ``into`` (created); ``into``."""
        into.mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                raise ValueError(f"shipped file name {name!r} leaves its folder")
            target = into.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return into


def writable_or(folder: Path, fallback: Path) -> Path:
    """``folder`` if this process can create and write it, else ``fallback``: where a task on
    another machine keeps a cache that the API's settings name (its own copy of that folder
    when it may, the run's scratch folder when it may not)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return fallback
    return folder if os.access(folder, os.W_OK) else fallback
