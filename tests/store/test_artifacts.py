"""The artifact store: atomic files, folders published or replaced in one step, recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from tympan.errors import Conflict, InvalidParameter
from tympan.store import ArtifactStore
from tympan.store.artifacts import recover_replaced_folders, replace_folder


def test_artifacts_are_atomic_and_stay_inside(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    checksum = store.write_bytes("models/a/model.onnx", b"weights")
    assert store.read_bytes("models/a/model.onnx") == b"weights" and len(checksum) == 64
    for key in ("../evil", "models/../../evil", "/etc/passwd"):
        with pytest.raises(InvalidParameter):
            store.write_bytes(key, b"x")
    assert not (tmp_path / "evil").exists()
    store.delete("models")
    assert not store.exists("models/a/model.onnx")
    assert [p.name for p in store.root.rglob(".tmp-*")] == []


def test_a_staged_folder_appears_whole_and_never_over_another(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "a.bin"
    source.write_bytes(b"a")
    store.import_file("v/1/a.bin", source, staged=True)
    assert not store.exists("v/1")  # nothing is visible until it is published
    store.publish("v/1")
    assert store.read_bytes("v/1/a.bin") == b"a" and not store.staging_path("v/1").exists()
    source.write_bytes(b"b")
    store.import_file("v/1/a.bin", source, staged=True)
    with pytest.raises(Conflict):
        store.publish("v/1")
    assert store.read_bytes("v/1/a.bin") == b"a"
    store.delete("v/1")
    assert not store.exists("v/1") and not store.staging_path("v/1").exists()


def _folder(parent: Path, name: str, content: str) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(content)
    (folder / "weights.pt").write_text(content)
    return folder


def test_replace_folder_swaps_a_whole_folder(tmp_path: Path) -> None:
    target = _folder(tmp_path, "model", "old")
    replace_folder(_folder(tmp_path, ".tmp-model-1", "new"), target)
    assert {p.name: p.read_text() for p in target.iterdir()} == {
        "model.json": "new",
        "weights.pt": "new",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_recovery_after_a_crash_between_the_two_renames(tmp_path: Path) -> None:
    """Killed after the old folder was set aside: the old one comes back, the staged one goes."""
    _folder(tmp_path, ".old-model-1234abcd", "old")
    _folder(tmp_path, ".tmp-model-99", "new, never renamed in")
    _folder(tmp_path, "other", "kept")
    _folder(tmp_path, ".old-other-5678abcd", "superseded")  # crashed after the second rename
    recover_replaced_folders(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "other"]
    assert (tmp_path / "model" / "weights.pt").read_text() == "old"
    assert (tmp_path / "other" / "weights.pt").read_text() == "kept"
