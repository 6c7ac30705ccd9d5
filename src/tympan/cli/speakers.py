"""``tympan speakers enroll|add|list|show|remove|verify|identify|embed``: enrolled voices."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, print_json

__all__ = ["register"]

speakers = typer.Typer(name="speakers", help="Enroll, list, verify and identify speakers.")

AudioFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Audio file.")]
AudioFiles = Annotated[
    list[Path], typer.Argument(exists=True, dir_okay=False, help="One or more audio files.")
]
ModelOption = Annotated[str | None, typer.Option(help="Speaker model id (default model).")]
ThresholdOption = Annotated[
    float | None, typer.Option(help="Cosine threshold (default: the model's EER point).")
]


def _show(value: Any) -> None:
    print_json(asdict(value) if not isinstance(value, list) else [asdict(v) for v in value])


@speakers.command()
def enroll(
    name: Annotated[str, typer.Argument(help="The speaker's (unique) name.")],
    files: AudioFiles,
    metadata: Annotated[str | None, typer.Option(help="A JSON object kept with them.")] = None,
    model: ModelOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Enroll NAME from one or more recordings."""
    try:
        meta = json.loads(metadata) if metadata else None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc.msg}", param_hint="--metadata") from exc
    with connect(server, api_key) as client:
        _show(client.enroll_speaker(name, files, metadata=meta, model=model))


@speakers.command()
def add(
    speaker_id: Annotated[str, typer.Argument(help="Speaker id.")],
    files: AudioFiles,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Add recordings to an enrolled speaker (updates the voiceprint)."""
    with connect(server, api_key) as client:
        _show(client.add_speaker_samples(speaker_id, files))


@speakers.command("list")
def list_(server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Every enrolled speaker."""
    with connect(server, api_key) as client:
        _show(client.speakers())


@speakers.command()
def show(
    speaker_id: Annotated[str, typer.Argument(help="Speaker id.")],
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """One enrolled speaker."""
    with connect(server, api_key) as client:
        _show(client.speaker(speaker_id))


@speakers.command()
def remove(
    speaker_id: Annotated[str, typer.Argument(help="Speaker id.")],
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete a speaker with its samples and voiceprint."""
    with connect(server, api_key) as client:
        client.delete_speaker(speaker_id)
    typer.echo(f"removed {speaker_id}")


@speakers.command()
def verify(
    file: AudioFile,
    speaker: Annotated[str | None, typer.Option(help="Enrolled speaker id.")] = None,
    against: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="A second recording.")
    ] = None,
    threshold: ThresholdOption = None,
    model: ModelOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Is FILE the enrolled --speaker (or the speaker of --against)?"""
    with connect(server, api_key) as client:
        _show(
            client.verify_speaker(
                file, speaker_id=speaker, file2=against, threshold=threshold, model=model
            )
        )


@speakers.command()
def identify(
    file: AudioFile,
    among: Annotated[str | None, typer.Option(help="Comma-separated speaker ids.")] = None,
    threshold: ThresholdOption = None,
    top_k: Annotated[int, typer.Option(help="Length of the ranking.")] = 5,
    model: ModelOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Which enrolled speaker is in FILE ("speaker": null when nobody matches)."""
    ids = [item.strip() for item in among.split(",")] if among else None
    with connect(server, api_key) as client:
        result = client.identify_speaker(
            file, speaker_ids=ids, threshold=threshold, top_k=top_k, model=model
        )
        _show(result)


@speakers.command()
def embed(
    file: AudioFile,
    model: ModelOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """The speaker embedding of FILE."""
    with connect(server, api_key) as client:
        _show(client.speaker_embedding(file, model=model))


def register(app: typer.Typer) -> None:
    app.add_typer(speakers)
