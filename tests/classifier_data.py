"""Small real datasets for classifier tests: FSDD clips copied beside a manifest."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EVAL_DIR, read_manifest

__all__ = ["SENTENCES", "fsdd_subset", "ravdess_sentences"]


def fsdd_subset(folder: Path, digits: tuple[str, ...], speakers: tuple[str, ...], per: int) -> Path:
    """``digits`` x ``speakers`` x ``per`` FSDD clips copied into ``folder`` with a manifest."""
    lines = ["path,label,speaker"]
    for row in read_manifest("fsdd"):
        index = int(Path(row["audio"]).stem.rsplit("_", 1)[1])
        if row["label"] in digits and row["speaker"] in speakers and index < per:
            target = folder / row["audio"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((EVAL_DIR / "fsdd" / row["audio"]).read_bytes())
            lines.append(f"{row['audio']},{row['label']},{row['speaker']}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder


SENTENCES = {"01": "kids", "02": "dogs"}  # RAVDESS statement 01 / 02 in the file name


def ravdess_sentences(folder: Path, actors: tuple[int, ...], emotions: tuple[str, ...]) -> Path:
    """RAVDESS clips of ``actors`` x ``emotions`` copied into ``folder``, labelled by the
    sentence spoken ("kids are talking..." / "dogs are sitting..."), actors as speakers."""
    lines = ["path,label,speaker"]
    wanted = {f"ravdess_actor{actor:02d}" for actor in actors}
    for row in read_manifest("emotion"):
        if row["actor"] in wanted and row["label"] in emotions:
            sentence = SENTENCES[Path(row["audio"]).stem.split("-")[4]]
            target = folder / row["audio"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((EVAL_DIR / "emotion" / row["audio"]).read_bytes())
            lines.append(f"{row['audio']},{sentence},{row['actor']}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder
