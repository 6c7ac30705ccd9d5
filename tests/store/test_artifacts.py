"""The artifact store: atomic files, folders published or replaced in one step, recovery,
and its object-store mirror (an S3 server on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.object_store import s3_bucket
from tympan.errors import Conflict, InvalidParameter
from tympan.store import ArtifactStore
from tympan.store.artifacts import SharedFolder, recover_replaced_folders, replace_folder


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


def test_two_servers_share_an_object_store_and_never_read_a_stale_copy(tmp_path: Path) -> None:
    with s3_bucket() as bucket:
        shared = SharedFolder(bucket.url, bucket.options)
        first = ArtifactStore(tmp_path / "first", shared)
        second = ArtifactStore(tmp_path / "second", SharedFolder(bucket.url, bucket.options))
        first.write_bytes("files/abc", b"upload")
        assert second.read_bytes("files/abc") == b"upload"

        def publish(store: ArtifactStore, key: str, data: bytes) -> None:
            staged = store.staging_path(key)
            staged.mkdir(parents=True)
            (staged / "model.onnx").write_bytes(data)
            (staged / "nested").mkdir()
            (staged / "nested" / "meta.json").write_text("{}")
            store.publish(key)

        publish(first, "classifiers/digits/1", b"v1")
        assert second.exists("classifiers/digits/1")
        with pytest.raises(Conflict):
            publish(second, "classifiers/digits/1", b"other")
        copy = second.fetch("classifiers/digits/1")
        assert (copy / "model.onnx").read_bytes() == b"v1"
        assert (copy / "nested" / "meta.json").read_text() == "{}"
        assert second.folders("classifiers") == {"classifiers/digits/1"}
        assert second.size("classifiers/digits/1") > 0

        # Deleted on the first server, its number reused: the second drops its old copy.
        first.delete("classifiers/digits/1")
        assert not second.exists("classifiers/digits/1")
        assert not second.fetch("classifiers/digits/1").exists()
        publish(first, "classifiers/digits/1", b"v2")
        assert (second.fetch("classifiers/digits/1") / "model.onnx").read_bytes() == b"v2"

        # A folder whose upload never finished (no stamp) is not fetched.
        shared.fs.pipe(f"{shared.base}/classifiers/digits/2/model.onnx", b"half")
        assert not second.fetch("classifiers/digits/2").exists()
        assert second.folders("classifiers") == {"classifiers/digits/1", "classifiers/digits/2"}
        for key in ("../evil", "/etc/passwd"):
            with pytest.raises(InvalidParameter):
                second.fetch(key)
