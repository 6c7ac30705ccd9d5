"""``tympan transcribe FILE... [--model] [--format srt] [--out DIR] [--translate] [--diarize]``
and ``tympan language FILE...``.

With ``--diarize`` each file goes through two stages, each with its own progress bar: the
transcription (streamed, chunk by chunk, with word times) and the diarization; the words then
take their speakers and segments split where the speaker changes (the server's own rule).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tympan.cli._common import ApiKeyOption, ServerOption, connect, err_console
from tympan.client import Client
from tympan.tasks.asr import Transcription, render_text
from tympan.tasks.diarization import label_transcription

__all__ = ["format_transcription", "register"]

_EXTENSIONS = {"text": "txt", "json": "json", "verbose_json": "json", "srt": "srt", "vtt": "vtt"}


def format_transcription(result: Transcription, fmt: str) -> str:
    """A transcription in one of OpenAI's response formats (the server's own renderer)."""
    if fmt == "json":
        return json.dumps({"text": result.text}, ensure_ascii=False) + "\n"
    if fmt == "verbose_json":
        return json.dumps(asdict(result), ensure_ascii=False, indent=2) + "\n"
    if fmt in ("text", "srt", "vtt"):
        return render_text(result, fmt)  # type: ignore[arg-type]
    raise typer.BadParameter("format must be text, json, verbose_json, srt or vtt", "--format")


def transcribe(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Audio files.")],
    model: Annotated[
        str | None, typer.Option(help="Model id or alias (default whisper-1).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="text | json | verbose_json | srt | vtt")
    ] = "text",
    out: Annotated[
        Path | None, typer.Option(help="Folder for <name>.<ext> files instead of stdout.")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="ISO-639-1 code; detected if absent.")
    ] = None,
    translate: Annotated[bool, typer.Option(help="Translate to English instead.")] = False,
    prompt: Annotated[str | None, typer.Option(help="Text that precedes the audio.")] = None,
    hotwords: Annotated[str | None, typer.Option(help="Words or phrases to favour.")] = None,
    beam_size: Annotated[int, typer.Option(min=1, max=20)] = 5,
    vad_filter: Annotated[bool, typer.Option(help="Drop non-speech before decoding.")] = True,
    word_timestamps: Annotated[bool, typer.Option(help="Word times (verbose_json).")] = False,
    diarize: Annotated[
        bool, typer.Option(help="Name the speaker of every word; cues split at speaker changes.")
    ] = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Transcribe (or translate) each file, with a progress bar per file and stage."""
    format_transcription(Transcription("transcribe", "", 0.0, ""), fmt)  # refuse bad formats early
    if diarize and translate:
        raise typer.BadParameter("--diarize works with transcription, not --translate")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with (
        connect(server, api_key) as client,
        Progress(*columns, console=err_console, disable=not err_console.is_terminal) as progress,
    ):
        for path in files:
            stage = f"{path.name}: transcribing" if diarize else path.name
            bar = progress.add_task(stage, total=1.0)

            def report(fraction: float, _text: str, bar: int = bar) -> None:
                progress.update(bar, completed=fraction)

            common = {"model": model, "prompt": prompt, "beam_size": beam_size}
            common |= {"vad_filter": vad_filter, "hotwords": hotwords, "on_progress": report}
            if translate:
                result = client.translate(path, **common)  # type: ignore[arg-type]
            else:
                result = client.transcribe(
                    path,
                    language=language,
                    word_timestamps=word_timestamps or diarize,
                    **common,  # type: ignore[arg-type]
                )
            progress.update(bar, completed=1.0)
            if diarize:
                result = _with_speakers(client, progress, path, result, keep_words=word_timestamps)
            text = format_transcription(result, fmt)
            if out is None:
                typer.echo(text, nl=False)
            else:
                target = out / f"{path.stem}.{_EXTENSIONS[fmt]}"
                target.write_text(text)
                err_console.print(f"{path} -> {target}")


def _with_speakers(
    client: Client, progress: Progress, path: Path, result: Transcription, *, keep_words: bool
) -> Transcription:
    """The diarization stage (its bar pulses until the turns arrive: the service reports no
    fraction for it), then per-word speakers; ``keep_words`` keeps the words asked for."""
    bar = progress.add_task(f"{path.name}: speakers", total=None)
    turns = client.diarize(path)
    progress.update(bar, total=1.0, completed=1.0)
    return label_transcription(result, turns.segments, keep_words=keep_words)


def language(
    files: Annotated[list[Path], typer.Argument(help="Audio files.", exists=True, dir_okay=False)],
    top: Annotated[int, typer.Option(help="How many languages to list per file.")] = 3,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Print the language spoken in each file, with the runners-up and their probabilities."""
    with connect(server, api_key) as client:
        for file in files:
            result = client.detect_language(file, top=top)
            ranked = ", ".join(
                f"{item['language']} {item['probability']:.2f}" for item in result["languages"]
            )
            typer.echo(f"{file.name}\t{result['language']}\t{ranked}")


def register(app: typer.Typer) -> None:
    app.command()(transcribe)
    app.command()(language)
