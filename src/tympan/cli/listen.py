"""``tympan listen [FILE] [--mic] [--speakers] [--speed 1] [--json]``: live transcription.

A file is played to the service at real time (``--speed`` to change it) and each finished
turn is printed as it comes, ``[mm:ss] SPEAKER: text``; words of the open turn show on stderr
while it is spoken. ``--mic`` listens to the default microphone (needs ``sounddevice``).
``--json`` prints every OpenAI Realtime event as one JSON line instead.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, console, err_console
from tympan.client import Client
from tympan.config import SAMPLE_RATE

__all__ = ["register"]

_MIC_BLOCK = 1600  # 100 ms at 16 kHz


async def _microphone() -> AsyncIterator[bytes]:
    """16 kHz 16-bit mono PCM from the default input device, in 100 ms blocks."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise typer.BadParameter(
            f"--mic needs the sounddevice package and PortAudio ({exc}).", param_hint="--mic"
        ) from exc
    loop = asyncio.get_running_loop()
    blocks: asyncio.Queue[bytes] = asyncio.Queue()

    def captured(data: Any, *_: Any) -> None:
        loop.call_soon_threadsafe(blocks.put_nowait, bytes(data))

    with sounddevice.RawInputStream(
        samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=_MIC_BLOCK, callback=captured
    ):
        while True:
            yield await blocks.get()


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _show(event: dict[str, Any], as_json: bool, turns: dict[str, float]) -> None:
    kind = event["type"]
    if as_json:
        typer.echo(json.dumps(event, ensure_ascii=False))
    elif kind == "input_audio_buffer.speech_started":
        turns[event["item_id"]] = event["audio_start_ms"] / 1000
    elif kind.endswith("transcription.delta"):
        err_console.print(event["delta"], end="", style="dim", highlight=False)
    elif kind.endswith("transcription.completed") and event["transcript"]:
        if err_console.is_terminal:
            err_console.print()
        start = turns.get(event["item_id"])
        when = f"[{_clock(start)}] " if start is not None else ""
        who = f"{event['speaker']}: " if event.get("speaker") else ""
        console.print(f"{when}{who}{event['transcript']}", highlight=False)
    elif kind == "error":
        err_console.print(
            f"[red]error[/red] ({event['error']['code']}): {event['error']['message']}"
        )


async def _listen(client: Client, source: Path | None, as_json: bool, **options: Any) -> None:
    audio = _microphone() if source is None else source
    turns: dict[str, float] = {}
    async for event in client.listen(audio, **options):
        _show(event, as_json, turns)


def listen(
    file: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="Audio file played at --speed."),
    ] = None,
    mic: Annotated[bool, typer.Option("--mic", help="Listen to the microphone.")] = False,
    speakers: Annotated[bool, typer.Option(help="Name the speaker of every turn.")] = False,
    model: Annotated[str | None, typer.Option(help="ASR model id or alias.")] = None,
    language: Annotated[str | None, typer.Option(help="ISO-639-1 code.")] = None,
    speed: Annotated[
        float, typer.Option(min=0.1, max=100, help="Times real time a file is played at.")
    ] = 1.0,
    silence_ms: Annotated[
        int, typer.Option(min=0, max=10_000, help="Silence that ends a turn, in ms.")
    ] = 500,
    eagerness: Annotated[
        str | None,
        typer.Option(
            help="Semantic VAD instead of --silence-ms: low, medium, high or auto (a turn "
            "ends when its text sounds finished)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every event as JSON.")] = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Transcribe a file played at real time, or the microphone, live (Ctrl-C to stop)."""
    if (file is None) == (not mic):
        raise typer.BadParameter("Give a FILE or --mic (one of them).")
    with connect(server, api_key) as client:
        try:
            asyncio.run(
                _listen(
                    client,
                    file,
                    as_json,
                    model=model,
                    language=language,
                    speakers=speakers,
                    speed=speed,
                    silence_ms=silence_ms,
                    eagerness=eagerness,
                )
            )
        except KeyboardInterrupt:
            sys.exit(130)


def register(app: typer.Typer) -> None:
    app.command()(listen)
