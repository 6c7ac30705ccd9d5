"""``Shipment``: files by value for a task on another machine."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tympan.shipping import Shipment, writable_or


def test_a_folder_round_trips_with_its_layout(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "a.bin").write_bytes(b"\x00\x01")
    (source / "nested" / "b.txt").write_text("b")
    shipment = pickle.loads(pickle.dumps(Shipment.of_folder(source)))  # as Ray carries it
    copy = shipment.unpack(tmp_path / "copy")
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == [
        "a.bin",
        "nested/b.txt",
    ]
    assert (copy / "a.bin").read_bytes() == b"\x00\x01" and shipment.size == 3


def test_files_keep_their_place_under_the_root_and_others_are_numbered_apart(
    tmp_path: Path,
) -> None:
    inside = tmp_path / "root" / "zero" / "clip.wav"
    outside = tmp_path / "elsewhere" / "clip.wav"
    for path, content in ((inside, b"in"), (outside, b"out")):
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    shipment, names = Shipment.of_files([inside, outside], tmp_path / "root")
    assert names[0] == "zero/clip.wav" and names[1] != names[0]
    copy = shipment.unpack(tmp_path / "copy")
    assert [(copy / name).read_bytes() for name in names] == [b"in", b"out"]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt", ""])
def test_a_name_that_leaves_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="leaves its folder"):
        Shipment({name: b"x"}).unpack(tmp_path / "copy")
    assert not (tmp_path / "escape.txt").exists()


def test_an_unwritable_folder_falls_back(tmp_path: Path) -> None:
    assert writable_or(tmp_path / "cache", tmp_path / "scratch") == tmp_path / "cache"
    assert (tmp_path / "cache").is_dir()
    assert writable_or(Path("/proc/tympan-cache"), tmp_path / "scratch") == tmp_path / "scratch"
