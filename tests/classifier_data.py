"""Small real datasets for classifier tests: FSDD clips copied beside a manifest."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EVAL_DIR, read_manifest

__all__ = ["SENTENCES", "fsdd_subset", "ravdess_sentences"]


def fsdd_subset(folder: Path, digits: tuple[str, ...], speakers: tuple[str, ...], per: int) -> Path:
    """``digits`` x ``speakers`` x ``per`` FSDD clips copied into ``folder`` with a manifest."""
    rows = [
        (row["audio"], row["label"], row["speaker"])
        for row in read_manifest("fsdd")
        if row["label"] in digits
        and row["speaker"] in speakers
        and int(Path(row["audio"]).stem.rsplit("_", 1)[1]) < per
    ]
    return _copied(folder, "fsdd", rows)


SENTENCES = {"01": "kids", "02": "dogs"}  # RAVDESS statement 01 / 02 in the file name


def ravdess_sentences(folder: Path, actors: tuple[int, ...], emotions: tuple[str, ...]) -> Path:
    """RAVDESS clips of ``actors`` x ``emotions`` copied into ``folder``, labelled by the
    sentence spoken ("kids are talking..." / "dogs are sitting..."), actors as speakers."""
    wanted = {f"ravdess_actor{actor:02d}" for actor in actors}
    rows = [
        (row["audio"], SENTENCES[Path(row["audio"]).stem.split("-")[4]], row["actor"])
        for row in read_manifest("emotion")
        if row["actor"] in wanted and row["label"] in emotions
    ]
    return _copied(folder, "emotion", rows)


def _copied(folder: Path, dataset: str, rows: list[tuple[str, str, str]]) -> Path:
    """``folder`` with the (audio, label, speaker) ``rows``' clips of ``dataset`` copied in and
    a ``manifest.csv`` listing them."""
    lines = ["path,label,speaker"]
    for audio, label, speaker in rows:
        target = folder / audio
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((EVAL_DIR / dataset / audio).read_bytes())
        lines.append(f"{audio},{label},{speaker}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder
