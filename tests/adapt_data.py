"""Small real fine-tuning datasets: ``asr_adapt`` clips zipped with a manifest, in memory."""

from __future__ import annotations

import io
import json
import zipfile

from tests.conftest import EVAL_DIR, read_manifest

__all__ = ["ADAPT", "adapt_rows", "dataset_zip"]

ADAPT = EVAL_DIR / "asr_adapt"


def adapt_rows(split: str, count: int, speakers: int = 2) -> list[dict[str, str]]:
    """``count`` rows of ``split``, taken in turn from its first ``speakers`` speakers."""
    rows = [row for row in read_manifest("asr_adapt") if row["split"] == split]
    chosen = sorted({row["speaker"] for row in rows})[:speakers]
    by_speaker = [[row for row in rows if row["speaker"] == s] for s in chosen]
    mixed = [row for group in zip(*by_speaker, strict=False) for row in group]
    return mixed[:count]


def dataset_zip(
    rows: list[dict[str, str]],
    manifest: str = "csv",
    folder: str = "",
    listed: list[dict[str, str]] | None = None,
) -> bytes:
    """A zip of the rows' clips and a ``manifest.csv`` or ``.jsonl`` (inside ``folder``) that
    lists ``listed`` (default: the same rows)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for row in rows:
            archive.write(ADAPT / row["audio"], folder + row["audio"])
        rows = rows if listed is None else listed
        if manifest == "csv":
            lines = ["audio,text,speaker"] + [
                f"{row['audio']},{row['text']},{row['speaker']}" for row in rows
            ]
        else:
            lines = [
                json.dumps({key: row[key] for key in ("audio", "text", "speaker")}) for row in rows
            ]
        archive.writestr(f"{folder}manifest.{manifest}", "\n".join(lines) + "\n")
    return buffer.getvalue()
