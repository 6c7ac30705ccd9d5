"""``tympan music generate [--prompt motif.mid] --bars 8 -o out.mid`` and ``tympan music train``."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, err_console
from tympan.errors import ModelTraining
from tympan.tasks.music import Composition, music_model_ids

__all__ = ["register"]

_RETRY_SECONDS = 5.0  # between generation attempts while a first model trains

music_app = typer.Typer(help="Continue a melody in a learned style, as MIDI or audio.")
_FORMATS = {".mid": "midi", ".midi": "midi", ".wav": "wav", ".mp3": "mp3", ".flac": "flac",
            ".json": "json"}  # fmt: skip


def _prompt_arguments(prompt: Path | None) -> dict[str, Any]:
    """SDK arguments for a prompt file: MIDI uploaded, ABC sent as text, JSON as notes."""
    if prompt is None:
        return {}
    suffix = prompt.suffix.lower()
    if suffix == ".abc":
        return {"abc": prompt.read_text()}
    if suffix == ".json":
        data = json.loads(prompt.read_text())
        return {"notes": data["notes"] if isinstance(data, dict) else data}
    return {"prompt": prompt}


@music_app.command()
def generate(
    out: Annotated[Path, typer.Option("-o", "--out", help="Output: .mid .wav .mp3 .flac .json")],
    prompt: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Motif to continue: .mid, .abc or .json"),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model id or style (folk, bach).")] = None,
    bars: Annotated[int | None, typer.Option(help="Bars to add (default 8).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Or seconds of music to add.")] = None,
    temperature: Annotated[float, typer.Option()] = 1.0,
    top_k: Annotated[int, typer.Option(help="0 = no limit.")] = 0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Same seed, same piece.")] = None,
    tempo: Annotated[float | None, typer.Option(help="BPM.")] = None,
    instrument: Annotated[int, typer.Option(help="General MIDI program.")] = 0,
    key: Annotated[str | None, typer.Option(help="e.g. 'G major'.")] = None,
    meter: Annotated[str | None, typer.Option(help="e.g. 3/4.")] = None,
    stay_in_key: Annotated[bool, typer.Option(help="Only pitches of the key.")] = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Continue PROMPT (or compose from scratch) and write MIDI, audio or JSON notes."""
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise typer.BadParameter(f"use one of {', '.join(_FORMATS)}", param_hint="--out")
    chosen_seed = seed if seed is not None else secrets.randbelow(2**31)
    arguments = {
        **_prompt_arguments(prompt),
        "model": model,
        "bars": bars,
        "seconds": seconds,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "seed": chosen_seed,
        "tempo": tempo,
        "instrument": instrument,
        "key": key,
        "meter": meter,
        "stay_in_key": stay_in_key,
        "response_format": fmt,
    }
    with connect(server, api_key) as client:
        try:
            result = client.music_generate(**arguments)
        except ModelTraining as exc:
            # The service has started training the model: follow it, then ask again.
            err_console.print(f"[yellow]{exc.message}[/yellow]")
            result = _generate_when_trained(client, arguments, exc.job_id, model or "folk")
    if isinstance(result, Composition):
        out.write_text(json.dumps(asdict(result), indent=2) + "\n")
    else:
        out.write_bytes(result)
    err_console.print(f"wrote {out} (seed {chosen_seed}; pass --seed to reproduce)")


@music_app.command()
def train(
    model: Annotated[
        list[str] | None, typer.Option(help="Model(s) to train (default folk-lstm).")
    ] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Train every music model.")] = False,
    max_seconds: Annotated[
        float | None, typer.Option(help="Budget per model (default TYMPAN_MUSIC_TRAIN_SECONDS).")
    ] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Train music models from the music21 corpus into the data dir, with progress."""
    chosen = music_model_ids() if all_models else (model or ["folk-lstm"])
    with connect(server, api_key) as client:
        for model_id in chosen:
            progress = _changes(_show(model_id))
            job = client.music_train(model_id, max_seconds=max_seconds, on_progress=progress)
            report = job["result"]
            typer.echo(
                f"{model_id}: test perplexity {report['test_perplexity']:.2f} "
                f"({report['epochs']} epochs, {report['train_seconds']:.0f} s)"
            )


def _generate_when_trained(
    client: Any, arguments: dict[str, Any], job_id: str | None, model_id: str
) -> Any:
    """Retry the generation while the training job runs (a fresh install's quick first model
    answers long before the full one); the job's failure is raised as it is."""
    show = _changes(_show(model_id))
    while True:
        if job_id is None:  # an older server: wait for the whole training
            client.music_train(model_id, on_progress=show)
        else:
            job = client.job(job_id)
            show(job["progress"], job["message"])
            if job["status"] == "failed":
                raise SystemExit(f"training failed: {(job['error'] or {}).get('message')}")
            time.sleep(_RETRY_SECONDS)
        try:
            return client.music_generate(**arguments)
        except ModelTraining as again:
            job_id = again.job_id


def _show(model_id: str) -> Any:
    def show(fraction: float, message: str) -> None:
        err_console.print(f"[dim]{model_id} {fraction:4.0%}[/dim] {message}")

    return show


def _changes(show: Any) -> Any:
    """A progress callback that prints only when the message changes (polling repeats it)."""
    last: list[str] = [""]

    def on_progress(fraction: float, message: str) -> None:
        if message != last[0]:
            last[0] = message
            show(fraction, message)

    return on_progress


def register(app: typer.Typer) -> None:
    app.add_typer(music_app, name="music")
