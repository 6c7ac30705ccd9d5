"""``tympan diarize FILE [--format json|rttm]``: who spoke when;
``tympan train-overlap FOLDER``: train the model that finds overlapped speech."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, print_json, wait_with_bar

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


def train_overlap(
    folder: Annotated[
        str, typer.Argument(help="Dataset folder on the server (manifest: audio,speaker).")
    ],
    noise: Annotated[
        str | None, typer.Option(help="Folder of noise recordings on the server.")
    ] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Training steps (default 600).")] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Train the speaker-count model that gives overlapped speech a second speaker."""
    with connect(server, api_key) as client:
        job = client.train_overlap(folder, noise_path=noise, steps=steps, wait=False)
        done = wait_with_bar(
            "training overlap model", lambda show: client.wait_job(job["id"], on_progress=show)
        )
    print_json(done["result"])


def register(app: typer.Typer) -> None:
    app.command()(diarize)
    app.command("train-overlap")(train_overlap)
