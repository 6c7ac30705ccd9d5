"""Find the modules of a package, so a new capability plugs in by adding a file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType

__all__ = ["iter_submodules"]


def iter_submodules(package: str) -> Iterator[ModuleType]:
    """Import and yield the direct submodules of ``package`` (private ones skipped), sorted."""
    parent = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(parent.__path__), key=lambda item: item.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{package}.{info.name}")
