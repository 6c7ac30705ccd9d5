"""``tympan language FILE... [--top N]``: the language spoken in each file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, track

__all__ = ["register"]


def language(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Audio files.")],
    top: Annotated[int, typer.Option(min=1, max=20, help="Candidates per file.")] = 3,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Identify the language spoken in each file (JSON lines: file, language, candidates)."""
    with connect(server, api_key) as client:
        for path in track(files, "language", total=len(files)):
            report = client.identify_language(path, top=top)
            typer.echo(json.dumps({"file": str(path), **asdict(report)}))


def register(app: typer.Typer) -> None:
    app.command()(language)
