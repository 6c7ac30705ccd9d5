"""``tympan speak [TEXT] -o out.mp3 [--voice] [--speed]`` and ``tympan voices``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from tympan.cli._common import (
    ApiKeyOption,
    AudioFormatOption,
    AudioOutOption,
    ServerOption,
    connect,
    console,
    format_for,
    write_chunks,
)

__all__ = ["register"]


def _read_text(text: str | None) -> str:
    if text is not None:
        return text
    if sys.stdin.isatty():
        raise typer.BadParameter("give the text as an argument or on stdin", param_hint="TEXT")
    return sys.stdin.read()


def speak(
    text: Annotated[
        str | None, typer.Argument(help="Text to speak; read from stdin if absent.")
    ] = None,
    out: AudioOutOption = None,
    voice: Annotated[str | None, typer.Option(help="Piper or OpenAI voice name.")] = None,
    speed: Annotated[float | None, typer.Option(help="0.25 to 4.0 (1.0 = natural).")] = None,
    model: Annotated[str | None, typer.Option(help="TTS model id or alias.")] = None,
    fmt: AudioFormatOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Speak TEXT into an audio file, written as the server streams it."""
    response_format = format_for(out, fmt)
    content = _read_text(text)
    with connect(server, api_key) as client:
        chunks = client.speech_stream(
            content,
            voice,
            model=model,
            response_format=response_format,  # type: ignore[arg-type]
            speed=speed,
        )
        write_chunks(chunks, out)


def voices(server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """List the voices and the OpenAI voice names that reach them."""
    with connect(server, api_key) as client:
        cards = client.voices()
    table = Table("voice", "model", "language", "rate", "OpenAI names")
    for card in cards:
        table.add_row(
            card.id, card.model, card.language, str(card.sample_rate), ", ".join(card.openai_voices)
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(speak)
    app.command()(voices)
