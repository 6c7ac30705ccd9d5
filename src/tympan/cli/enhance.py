"""``tympan enhance noisy.mp3 -o clean.wav [--model]``: reduce the noise of a recording."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tympan.cli._common import (
    ApiKeyOption,
    AudioFormatOption,
    AudioOutOption,
    ServerOption,
    connect,
    format_for,
    write_chunks,
)

__all__ = ["register"]


def enhance(
    file: Annotated[Path, typer.Argument(help="The noisy recording.", exists=True, dir_okay=False)],
    out: AudioOutOption = None,
    model: Annotated[
        str | None, typer.Option(help="deepfilternet3 (default), rnnoise or noisereduce.")
    ] = None,
    fmt: AudioFormatOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Write FILE with its background noise reduced, as the server streams it."""
    response_format = format_for(out, fmt or ("wav" if out is None else None))
    with connect(server, api_key) as client:
        write_chunks(client.enhance_stream(file, model=model, response_format=response_format), out)


def register(app: typer.Typer) -> None:
    app.command()(enhance)
