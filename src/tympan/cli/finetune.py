"""``tympan asr finetune DATASET --model whisper-tiny.en [--suffix] [--epochs] [--method]`` and
``tympan asr versions|promote|rollback NAME``.

Uploads the dataset (a folder with ``manifest.csv``/``.jsonl`` and its clips, or a zip),
starts a fine-tuning job, follows it with a progress bar, and prints the finished job, whose
``fine_tuned_model`` then transcribes by name (``tympan transcribe --model ft:...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, print_json, wait_with_bar

__all__ = ["register"]

asr_app = typer.Typer(help="Speech recognition models: fine-tuning, versions, stages.")

Method = Literal["lora", "top_layers", "full"]
Layers = Literal["decoder", "top_encoder", "all"]


@asr_app.command()
def finetune(
    dataset: Annotated[
        Path, typer.Argument(exists=True, help="Folder with manifest.csv/.jsonl and clips, or zip.")
    ],
    model: Annotated[str, typer.Option(help="Whisper to fine-tune (or an ft: model).")] = (
        "whisper-tiny.en"
    ),
    suffix: Annotated[str | None, typer.Option(help="Name part: ft:MODEL:SUFFIX:N.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    method: Annotated[Method, typer.Option(help="lora | top_layers | full")] = "lora",
    layers: Annotated[
        Layers | None, typer.Option(help="decoder | top_encoder (default) | all")
    ] = None,
    augment: Annotated[
        list[str] | None, typer.Option(help="noise | speed | specaugment | adversarial")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many steps.")
    ] = None,
    validation: Annotated[
        Path | None, typer.Option(exists=True, help="Validation dataset (else a split).")
    ] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job, with a progress bar.")] = True,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Fine-tune a Whisper model on a dataset and print the job (and its model's name)."""
    with connect(server, api_key) as client:
        training_file = client.upload_dataset(dataset)["id"]
        validation_file = client.upload_dataset(validation)["id"] if validation else None
        job = client.create_fine_tuning_job(
            model,
            training_file,
            validation_file=validation_file,
            suffix=suffix,
            seed=seed,
            n_epochs=epochs,
            batch_size=batch_size,
            training_method=method,
            layers=layers,
            augment=augment or None,
            max_steps=max_steps,
        )
        if not wait:
            print_json(job)
            return
        done = wait_with_bar(
            f"fine-tuning {model}",
            lambda show: client.wait_fine_tuning_job(job["id"], on_progress=show),
        )
    print_json(done)


@asr_app.command()
def versions(
    name: Annotated[str, typer.Argument(help="ft:<base>:<suffix>")],
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Every version of a fine-tuned model with its stage and validation WER (JSON)."""
    with connect(server, api_key) as client:
        print_json(client.fine_tuned_versions(name))


@asr_app.command()
def promote(
    name: Annotated[str, typer.Argument(help="ft:<base>:<suffix>")],
    version: int,
    stage: Annotated[str, typer.Option(help="staging | production | archived")] = "production",
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Move a version to a stage; the bare name serves the production version."""
    with connect(server, api_key) as client:
        print_json(client.promote_fine_tuned(name, version, stage))


@asr_app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="ft:<base>:<suffix>")],
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Restore the previous production version."""
    with connect(server, api_key) as client:
        print_json(client.rollback_fine_tuned(name))


def register(app: typer.Typer) -> None:
    app.add_typer(asr_app, name="asr")
