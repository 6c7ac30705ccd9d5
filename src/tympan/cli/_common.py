"""What every CLI command shares: how to reach the service, show progress, report errors."""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tympan.audio.encode import FORMATS
from tympan.client import Client
from tympan.config import Settings
from tympan.errors import TympanError

__all__ = [
    "ApiKeyOption",
    "AudioFormatOption",
    "AudioOutOption",
    "ServerOption",
    "connect",
    "console",
    "err_console",
    "format_for",
    "print_json",
    "track",
    "write_chunks",
]

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="TYMPAN_SERVER",
        help="URL of a running Tympan service; without it the command runs in-process.",
    ),
]
AudioOutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Audio file to write (default stdout).")
]
AudioFormatOption = Annotated[
    str | None, typer.Option("--format", help="mp3|opus|aac|flac|wav|pcm (default: suffix)")
]
ApiKeyOption = Annotated[
    str | None, typer.Option("--api-key", envvar="TYMPAN_API_KEY", help="Bearer API key.")
]


@contextlib.contextmanager
def connect(
    server: str | None, api_key: str | None, settings: Settings | None = None
) -> Iterator[Client]:
    """A client for the server, or an in-process service (with ``settings``); Tympan errors
    exit with status 1."""
    try:
        client = Client(server, api_key) if server else Client.in_process(settings, api_key)
        with client:
            yield client
    except TympanError as exc:
        err_console.print(f"[red]error[/red] ({exc.status} {exc.code}): {exc.message}")
        raise typer.Exit(1) from exc


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr (hidden when stderr is not a terminal)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, disable=not sys.stderr.isatty()) as progress:
        yield from progress.track(items, total=total, description=description)


def wait_with_bar(label: str, wait: Callable[[Callable[[float, str], None]], T]) -> T:
    """Run ``wait(on_progress)`` (a job poll) under a rich bar on stderr that shows each
    reported fraction and message (hidden when stderr is not a terminal)."""
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(label, total=1.0)
        return wait(
            lambda fraction, message: bar.update(
                task, completed=fraction, description=f"{label}: {message}"
            )
        )


def print_json(value: Any, out: Path | None = None) -> None:
    """Write ``value`` as JSON to ``out`` or to stdout."""
    text = json.dumps(value, indent=2, default=str)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")


_SUFFIXES = {".ogg": "opus", ".oga": "opus", ".raw": "pcm", ".m4a": "aac"}


def format_for(out: Path | None, fmt: str | None) -> str:
    """The response format: ``--format``, else the output file's suffix, else mp3."""
    if fmt is None and out is not None:
        suffix = out.suffix.lower()
        fmt = _SUFFIXES.get(suffix, suffix.lstrip("."))
    fmt = fmt or "mp3"
    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", param_hint="--format"
        )
    return fmt


def write_chunks(chunks: Iterator[bytes], out: Path | None) -> None:
    """Write streamed audio to ``out`` (or stdout) as it arrives; an error in the first chunk
    surfaces before an output file is created, and audio never goes to a terminal."""
    if out is None and sys.stdout.isatty():
        raise typer.BadParameter("refusing to write audio to a terminal; use -o FILE")
    chunks = iter(chunks)
    first = next(chunks, b"")
    with contextlib.ExitStack() as stack:
        sink: BinaryIO = (
            stack.enter_context(out.open("wb")) if out is not None else sys.stdout.buffer
        )
        for chunk in itertools.chain([first], chunks):
            sink.write(chunk)
            sink.flush()
