"""Labelled datasets: a folder per class, or a CSV manifest ``path,label[,speaker]``.

A dataset is a list of ``Example`` plus a fingerprint of its contents (paths, labels,
speakers and file bytes), which keys the feature cache and is recorded with every version.
``check_dataset`` lists everything that makes a dataset unfit before any training starts;
``decode_dataset`` decodes every file once and reports every unreadable one together.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tympan.audio import Audio, decode_audio
from tympan.errors import InvalidDataset, TympanError
from tympan.paths import require_under

__all__ = [
    "AUDIO_SUFFIXES",
    "Dataset",
    "DatasetReport",
    "Example",
    "check_dataset",
    "decode_dataset",
    "load_dataset",
]

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".aiff", ".aif", ".au"}
)
_PATH_COLUMNS = ("path", "audio", "file")
_SPEAKER_COLUMNS = ("speaker", "actor", "group")
MIN_EXAMPLES_PER_LABEL = 2


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled clip; ``speaker`` (optional) keeps validation splits speaker-disjoint."""

    path: Path
    label: str
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetReport:
    """What a dataset holds, and every problem that stops training on it."""

    examples: int
    classes: dict[str, int]
    speakers: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Dataset:
    """Examples in a fixed order plus the fingerprint of their contents."""

    examples: list[Example]
    root: Path
    fingerprint: str

    @property
    def labels(self) -> list[str]:
        """The distinct labels, sorted (class index order)."""
        return sorted({example.label for example in self.examples})

    @property
    def has_speakers(self) -> bool:
        return all(example.speaker for example in self.examples)


def _fingerprint(examples: list[Example], root: Path) -> str:
    digest = hashlib.sha256()
    for example in examples:
        relative = (
            example.path.relative_to(root) if example.path.is_relative_to(root) else example.path
        )
        digest.update(f"{relative}\0{example.label}\0{example.speaker or ''}\0".encode())
        if example.path.is_file():
            digest.update(hashlib.sha256(example.path.read_bytes()).digest())
    return digest.hexdigest()


def _from_folders(root: Path, roots: Sequence[Path] | None) -> list[Example]:
    class_dirs = [
        item
        for item in sorted(root.iterdir())
        if item.is_dir() and not item.name.startswith((".", "__"))
    ]
    if roots is not None:
        require_under(class_dirs, roots)  # before walking a linked folder
    examples = []
    for class_dir in class_dirs:
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
                examples.append(Example(path, class_dir.name))
    return examples


def _column(header: list[str], names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in header), None)


def _from_manifest(manifest: Path) -> list[Example]:
    root = manifest.parent.resolve()
    with manifest.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        reader.fieldnames = header
        path_column = _column(header, _PATH_COLUMNS)
        if path_column is None or "label" not in header:
            raise InvalidDataset(
                f"{manifest.name} needs a header with path (or audio) and label columns; "
                f"found {header}.",
                param="dataset",
            )
        speaker_column = _column(header, _SPEAKER_COLUMNS)
        examples = []
        for line, row in enumerate(reader, start=2):
            raw_path, label = (row.get(path_column) or "").strip(), (row.get("label") or "").strip()
            if not raw_path or not label:
                raise InvalidDataset(f"{manifest.name} line {line}: empty path or label.")
            path = (root / raw_path).resolve()
            if root not in path.parents:
                raise InvalidDataset(
                    f"{manifest.name} line {line}: {raw_path!r} is outside the manifest's folder.",
                    param="dataset",
                )
            speaker = (row.get(speaker_column) or "").strip() if speaker_column else ""
            examples.append(Example(path, label, speaker or None))
    return examples


def load_dataset(source: Path, roots: Sequence[Path] | None = None) -> Dataset:
    """Read a manifest CSV, a folder holding ``manifest.csv``, or a folder per class.

    With ``roots`` (a server path a request named), every file must lie under them even
    through links (``PermissionDenied`` before any file is read).
    """
    source = source.resolve()
    if source.is_file() and source.suffix.lower() == ".csv":
        examples, root = _from_manifest(source), source.parent
    elif source.is_dir():
        manifest = source / "manifest.csv"
        examples = _from_manifest(manifest) if manifest.is_file() else _from_folders(source, roots)
        root = source
    else:
        raise InvalidDataset(
            f"{source.name or source} is neither a folder nor a CSV manifest.", param="dataset"
        )
    if not examples:
        raise InvalidDataset(
            "The dataset holds no audio files (expected a folder per class or a manifest).",
            param="dataset",
        )
    if roots is not None:
        require_under([example.path for example in examples], roots)
    return Dataset(examples, root, _fingerprint(examples, root))


def check_dataset(dataset: Dataset) -> DatasetReport:
    """Counts per class and every structural problem (missing files, one class, singletons)."""
    classes = Counter(example.label for example in dataset.examples)
    speakers = {example.speaker for example in dataset.examples if example.speaker}
    problems = []
    missing = [
        str(e.path.relative_to(dataset.root)) for e in dataset.examples if not e.path.is_file()
    ]
    if missing:
        problems.append(f"{len(missing)} missing files: {', '.join(missing[:5])}")
    if len(classes) < 2:
        problems.append(f"only one class ({', '.join(classes)}); a classifier needs at least two")
    singletons = sorted(label for label, count in classes.items() if count < MIN_EXAMPLES_PER_LABEL)
    if singletons:
        problems.append(
            f"labels with fewer than {MIN_EXAMPLES_PER_LABEL} examples: {', '.join(singletons)}"
        )
    return DatasetReport(
        len(dataset.examples), dict(sorted(classes.items())), len(speakers), problems
    )


def raise_for_report(report: DatasetReport) -> None:
    """``InvalidDataset`` (400) listing every problem of ``report``."""
    if report.problems:
        raise InvalidDataset(
            "The dataset cannot be trained on: " + "; ".join(report.problems) + ".",
            param="dataset",
        )


def decode_dataset(
    dataset: Dataset,
    max_seconds: float,
    progress: Callable[[float, str], None] | None = None,
) -> list[Audio]:
    """Every example decoded once; ``InvalidDataset`` naming every unreadable file."""
    audios: list[Audio] = []
    unreadable: list[str] = []
    total = len(dataset.examples)
    for index, example in enumerate(dataset.examples):
        try:
            audios.append(decode_audio(example.path, max_seconds=max_seconds))
        except TympanError as exc:
            unreadable.append(f"{example.path.relative_to(dataset.root)} ({exc.message})")
        if progress is not None and index % 50 == 0:
            progress(index / total, f"decoding {index}/{total}")
    if unreadable:
        raise InvalidDataset(
            f"{len(unreadable)} of {total} files cannot be used: " + "; ".join(unreadable[:10]),
            param="dataset",
        )
    return audios


def zip_dataset(source: Path) -> bytes:
    """A dataset (folder per class or manifest) as an upload zip: ``manifest.csv`` + files."""
    import io
    import zipfile

    dataset = load_dataset(source)
    buffer = io.BytesIO()
    lines = io.StringIO()
    writer = csv.writer(lines)
    writer.writerow(["path", "label", "speaker"])
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, example in enumerate(dataset.examples):
            member = f"audio/{index:06d}_{example.path.name}"
            if example.path.is_file():
                archive.write(example.path, member)
            writer.writerow([member, example.label, example.speaker or ""])
        archive.writestr("manifest.csv", lines.getvalue())
    return buffer.getvalue()
