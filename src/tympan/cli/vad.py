"""``tympan vad FILE... [--method] [--format json|rttm|csv]``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, track
from tympan.tasks.vad import VadResult

__all__ = ["format_vad", "register"]


def format_vad(result: VadResult, file_id: str, fmt: str) -> str:
    """A VAD result as JSON, RTTM (``SPEECH`` turns) or CSV (start,end,confidence)."""
    if fmt == "json":
        return json.dumps({"file": file_id, **asdict(result)}, indent=2)
    if fmt == "rttm":
        return "".join(
            f"SPEAKER {file_id} 1 {s.start:.3f} {s.end - s.start:.3f} <NA> <NA> speech <NA> <NA>\n"
            for s in result.segments
        )
    if fmt == "csv":
        rows = [f"{file_id},{s.start:.3f},{s.end:.3f},{s.confidence:.4f}" for s in result.segments]
        return "file,start,end,confidence\n" + "".join(row + "\n" for row in rows)
    raise typer.BadParameter("format must be json, rttm or csv", param_hint="--format")


def vad(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Audio files.")],
    method: Annotated[str | None, typer.Option(help="silero | energy | spectral | fusion")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | rttm | csv")] = "json",
    threshold: Annotated[float, typer.Option()] = 0.5,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Find the speech in each file."""
    chunks = []
    with connect(server, api_key) as client:
        for path in track(files, "vad", total=len(files)):
            result = client.vad(path, method, threshold=threshold)  # type: ignore[arg-type]
            chunks.append(format_vad(result, path.stem, fmt))
    text = "".join(chunks) if fmt != "json" else "\n".join(chunks) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)


def register(app: typer.Typer) -> None:
    app.command()(vad)
