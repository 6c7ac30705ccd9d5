"""Server-side paths a request names are read only under the configured roots.

A request that names a folder on the server (``POST /v1/classifiers`` with ``path=``) could
otherwise read anything the process can. ``confine_path`` resolves the path as the kernel would
(symlinks followed, ``realpath``), refuses ``..`` outright, and accepts it only under one of
``TYMPAN_DATASET_ROOTS``; ``require_under`` refuses files that a link inside a root leads out of.
Refusals are 403 and name the setting, never a file, and never say whether a path exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath

from tympan.errors import PermissionDenied

__all__ = ["confine_path", "is_under", "require_under"]

_SETTING = "TYMPAN_DATASET_ROOTS"


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(path))


def is_under(path: Path, roots: Sequence[Path]) -> bool:
    """Whether the real ``path`` is one of the real ``roots`` or inside one."""
    real = _real(path)
    return any(real == root or real.is_relative_to(root) for root in map(_real, roots))


def confine_path(raw: str, roots: Sequence[Path], param: str = "path") -> Path:
    """The real path of ``raw`` when it lies under one of ``roots``; ``PermissionDenied`` if not."""
    if not roots:
        raise PermissionDenied(
            f"Server-side paths are disabled: set {_SETTING} to the folders the service may "
            "read, or upload the data instead.",
            param=param,
            code="path_not_allowed",
        )
    if not raw.strip() or ".." in PurePath(raw).parts:
        raise PermissionDenied(
            f"{param} must be a path inside {_SETTING}, without '..'.",
            param=param,
            code="path_not_allowed",
        )
    if not is_under(Path(raw), roots):
        raise PermissionDenied(
            f"{param} is not inside any folder of {_SETTING}.", param=param, code="path_not_allowed"
        )
    return _real(raw)


def require_under(paths: Iterable[Path], roots: Sequence[Path], param: str = "path") -> None:
    """``PermissionDenied`` when links lead any of ``paths`` out of ``roots`` (counted, unnamed)."""
    outside = sum(not is_under(path, roots) for path in paths)
    if outside:
        raise PermissionDenied(
            f"{outside} entries of the dataset lead (through links) outside {_SETTING}.",
            param=param,
            code="path_not_allowed",
        )
