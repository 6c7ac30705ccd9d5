"""Datasets and uploaded zips: layouts, validation reports, and hostile archives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tympan.errors import InvalidDataset, PayloadTooLarge
from tympan.tasks.classifiers.archive import ArchiveLimits, check_archive, extract_archive
from tympan.tasks.classifiers.dataset import (
    check_dataset,
    decode_dataset,
    load_dataset,
    raise_for_report,
    zip_dataset,
)

BAD = Path(__file__).resolve().parents[3].parent / "shared" / "eval" / "bad_inputs"


def _class_folders(root: Path, eval_dir: Path, per_class: dict[str, int]) -> Path:
    for label, count in per_class.items():
        (root / label).mkdir(parents=True)
        for index in range(count):
            source = eval_dir / "fsdd" / "audio" / f"{label}_jackson_{index}.flac"
            (root / label / source.name).write_bytes(source.read_bytes())
    return root


def test_folder_per_class_and_fingerprint(tmp_path, eval_dir) -> None:
    root = _class_folders(tmp_path / "data", eval_dir, {"1": 3, "2": 2})
    dataset = load_dataset(root)
    assert dataset.labels == ["1", "2"] and len(dataset.examples) == 5
    assert not dataset.has_speakers
    report = check_dataset(dataset)
    assert report.ok and report.classes == {"1": 3, "2": 2}
    assert load_dataset(root).fingerprint == dataset.fingerprint
    (root / "2" / "2_jackson_1.flac").write_bytes(b"changed")
    assert load_dataset(root).fingerprint != dataset.fingerprint


def test_manifest_with_speakers_reads_the_eval_layout(eval_dir) -> None:
    dataset = load_dataset(eval_dir / "fsdd" / "manifest.csv")
    assert len(dataset.examples) == 3000 and dataset.has_speakers
    assert {example.speaker for example in dataset.examples} >= {"george", "theo"}


def test_one_class_and_singletons_are_reported_together(tmp_path, eval_dir) -> None:
    root = _class_folders(tmp_path / "data", eval_dir, {"1": 1})
    report = check_dataset(load_dataset(root))
    assert not report.ok and len(report.problems) == 2
    with pytest.raises(InvalidDataset) as info:
        raise_for_report(report)
    assert "only one class" in info.value.message and "fewer than 2" in info.value.message


def test_manifest_cannot_point_outside_its_folder(tmp_path) -> None:
    (tmp_path / "manifest.csv").write_text("path,label\n../../etc/passwd,x\n")
    with pytest.raises(InvalidDataset, match="outside"):
        load_dataset(tmp_path / "manifest.csv")


def test_manifest_needs_path_and_label_columns(tmp_path) -> None:
    (tmp_path / "manifest.csv").write_text("file_name,class\na.wav,x\n")
    with pytest.raises(InvalidDataset, match="header"):
        load_dataset(tmp_path)


def test_unreadable_files_are_all_named(tmp_path, eval_dir) -> None:
    root = _class_folders(tmp_path / "data", eval_dir, {"1": 2, "2": 2})
    (root / "1" / "text.wav").write_bytes((BAD / "text_named.wav").read_bytes())
    (root / "2" / "empty.wav").write_bytes(b"")
    with pytest.raises(InvalidDataset) as info:
        decode_dataset(load_dataset(root), max_seconds=60)
    assert "2 of 6 files" in info.value.message
    assert "text.wav" in info.value.message and "empty.wav" in info.value.message


def test_traversal_zip_is_refused_before_writing(tmp_path) -> None:
    target = tmp_path / "job"
    with pytest.raises(InvalidDataset, match="unsafe"):
        extract_archive(BAD / "dataset_traversal.zip", target)
    assert not target.exists()


def test_bomb_is_refused_from_declared_sizes(tmp_path) -> None:
    with pytest.raises(PayloadTooLarge, match=r"declares.*TYMPAN_MAX_(UPLOAD_BYTES|ZIP_RATIO)"):
        extract_archive(BAD / "dataset_bomb.zip", tmp_path / "job")
    assert not (tmp_path / "job").exists()


def test_member_count_limit(tmp_path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(5):
            handle.writestr(f"a/{index}.wav", b"x")
    with pytest.raises(PayloadTooLarge, match=r"5 files.*TYMPAN_MAX_DATASET_FILES"):
        check_archive(archive, ArchiveLimits(max_members=4))
    with pytest.raises(PayloadTooLarge, match="TYMPAN_MAX_DATASET_BYTES"):
        check_archive(archive, ArchiveLimits(max_total_bytes=4))


def test_not_a_zip(tmp_path) -> None:
    with pytest.raises(InvalidDataset, match="zip"):
        check_archive(BAD / "random_bytes.mp3")


def test_zip_round_trip(tmp_path, eval_dir) -> None:
    root = _class_folders(tmp_path / "data", eval_dir, {"3": 2, "4": 2})
    archive = tmp_path / "upload.zip"
    archive.write_bytes(zip_dataset(root))
    extracted = extract_archive(archive, tmp_path / "job")
    again = load_dataset(extracted)
    assert [e.label for e in again.examples] == [e.label for e in load_dataset(root).examples]
    assert extracted.is_relative_to((tmp_path / "job").resolve())
