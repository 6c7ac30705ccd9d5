"""``tympan enhance noisy.mp3 -o clean.wav [--model]``: reduce the noise of a recording."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tympan.cli._common import (
    ApiKeyOption,
    ServerOption,
    audio_format_for,
    connect,
    write_audio_stream,
)

__all__ = ["register"]


def enhance(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Noisy recording.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Audio file to write (default stdout).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="deepfilternet3 | rnnoise | noisereduce (default: server's).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="wav|flac|mp3|opus|aac|pcm (default: suffix)")
    ] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Reduce the background noise of FILE; same length and timing, written as it streams."""
    response_format = audio_format_for(out, fmt, default="wav")
    with connect(server, api_key) as client:
        chunks = client.enhance_stream(
            file,
            model=model,
            response_format=response_format,  # type: ignore[arg-type]
        )
        write_audio_stream(chunks, out)


def register(app: typer.Typer) -> None:
    app.command()(enhance)
