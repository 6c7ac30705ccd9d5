"""Small real datasets for classifier tests: FSDD clips copied beside a manifest."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EVAL_DIR, read_manifest

__all__ = ["fsdd_subset"]


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
