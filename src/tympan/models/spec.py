"""``ModelSpec``: what the service knows about a model before it is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelSpec", "path_size"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A servable model: its id, task, backend, where its weights come from and how to load it.

    ``load`` builds the in-memory handle the task functions receive; the manager calls it
    lazily, once, under the model's lock.
    """

    id: str
    task: str
    backend: str
    source: str
    load: Callable[[], Any]
    aliases: tuple[str, ...] = ()
    description: str = ""
    size_bytes: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def path_size(path: Path) -> int:
    """Bytes of a weights file or of every file under a model folder (0 if it is missing)."""
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return 0
