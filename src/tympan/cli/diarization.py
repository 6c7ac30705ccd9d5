"""``tympan diarize FILE [--format json|rttm]``: who spoke when."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, print_json

__all__ = ["register"]

Count = Annotated[int | None, typer.Option(min=1)]


def diarize(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Audio file.")],
    fmt: Annotated[str, typer.Option("--format", help="json | rttm")] = "json",
    num_speakers: Count = None,
    min_speakers: Count = None,
    max_speakers: Count = None,
    model: Annotated[str | None, typer.Option(help="Speaker model id.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Speaker turns of FILE; enrolled speakers appear by name."""
    if fmt not in ("json", "rttm"):
        raise typer.BadParameter("format must be json or rttm", param_hint="--format")
    counts = {
        "num_speakers": num_speakers,
        "min_speakers": min_speakers,
        "max_speakers": max_speakers,
    }
    with connect(server, api_key) as client:
        if fmt == "rttm":
            text = client.diarize_rttm(file, model=model, **counts)
        else:
            print_json(asdict(client.diarize(file, model=model, **counts)), out)
            return
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)


def register(app: typer.Typer) -> None:
    app.command()(diarize)
