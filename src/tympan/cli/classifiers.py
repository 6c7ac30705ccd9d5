"""``tympan train DATA --name N``, ``tympan predict N FILE...``, ``tympan detect N FILE``, and
``tympan classifiers list|versions|promote|rollback|report|examples``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tympan.cli._common import (
    ApiKeyOption,
    ServerOption,
    connect,
    console,
    print_json,
    wait_with_bar,
)
from tympan.config import Settings

__all__ = ["register"]

classifiers_app = typer.Typer(help="Trained classifiers: versions, stages, reports, examples.")


def train(
    data: Annotated[
        Path, typer.Argument(exists=True, help="Folder per class, manifest CSV or zip.")
    ],
    name: Annotated[str, typer.Option(help="Classifier name (versions are NAME:1, NAME:2...).")],
    arch: Annotated[
        str, typer.Option(help="transfer | cnn | crnn | attention | multimodal (+ transcript)")
    ] = "transfer",
    max_epochs: Annotated[int | None, typer.Option()] = None,
    augment_copies: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    augment: Annotated[
        str | None, typer.Option(help="Augmented copies' recipe: basic | voices")
    ] = None,
    refit: Annotated[
        bool | None,
        typer.Option(help="Retrain on every example for the epochs early stopping chose."),
    ] = None,
    encoder_layers: Annotated[
        str | None,
        typer.Option(
            help="Whisper-encoder layers pooled: last | all | e.g. 1,2,3,4 side by side, "
            "2+3+last averaged (all, 2+3+last: tone of voice)"
        ),
    ] = None,
    mixup: Annotated[
        float | None,
        typer.Option(help="Mixup's Beta alpha over pairs of training embeddings (0.2; 0: off)"),
    ] = None,
    quantize: Annotated[bool, typer.Option(help="Also export and serve an int8 graph.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the job, with a progress bar.")] = True,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Train a new version of a classifier and print its metrics."""
    options = {
        "max_epochs": max_epochs,
        "augment_copies": augment_copies,
        "seed": seed,
        "augment": augment,
        "refit": refit,
        "encoder_layers": encoder_layers,
        "mixup": mixup,
    }
    in_place = server is None and data.suffix.lower() != ".zip"
    settings = None
    if in_place:  # the in-process service may read the folder the user named
        defaults = Settings()
        folder = data.resolve() if data.is_dir() else data.resolve().parent
        settings = defaults.model_copy(update={"dataset_roots": [*defaults.dataset_roots, folder]})
    with connect(server, api_key, settings) as client:
        job = client.train_classifier(
            name,
            data,
            arch=arch,
            server_path=in_place,
            quantize=quantize,
            **{key: value for key, value in options.items() if value is not None},
        )
        if not wait:
            print_json(job)
            return
        done = wait_with_bar(
            f"training {name}", lambda show: client.wait_job(job["id"], on_progress=show)
        )
    print_json(done["result"])


def predict(
    name: Annotated[str, typer.Argument(help="Classifier name.")],
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    version: Annotated[int | None, typer.Option()] = None,
    top_k: Annotated[int, typer.Option()] = 3,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Print the top labels of each file (one JSON line per file)."""
    with connect(server, api_key) as client:
        for path in files:
            result = client.predict(name, path, version=version, top_k=top_k)
            typer.echo(json.dumps({"file": str(path), **asdict(result)}))


def detect(
    name: Annotated[str, typer.Argument(help="Classifier name.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    version: Annotated[int | None, typer.Option()] = None,
    threshold: Annotated[float, typer.Option()] = 0.5,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Print timed events of the classifier's labels in a long recording."""
    with connect(server, api_key) as client:
        result = client.detect(name, file, version=version, threshold=threshold)
    print_json(asdict(result))


@classifiers_app.command("list")
def list_classifiers(server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Every classifier and its served version."""
    with connect(server, api_key) as client:
        rows = client.classifiers()
    table = Table("name", "served", "stage", "arch", "labels", "accuracy")
    for row in rows:
        accuracy = row["metrics"].get("accuracy")
        table.add_row(
            row["name"], row["served"], row["stage"], row["arch"],
            str(len(row["labels"])), f"{accuracy:.3f}" if accuracy is not None else "-",
        )  # fmt: skip
    console.print(table)


@classifiers_app.command()
def versions(name: str, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Every version of a classifier (JSON)."""
    with connect(server, api_key) as client:
        print_json(client.classifier_versions(name))


@classifiers_app.command()
def promote(
    name: str,
    version: int,
    stage: Annotated[str, typer.Option(help="staging | production | archived")] = "production",
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Move a version to a stage."""
    with connect(server, api_key) as client:
        print_json(client.promote_classifier(name, version, stage))


@classifiers_app.command()
def rollback(name: str, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Restore the previous production version."""
    with connect(server, api_key) as client:
        print_json(client.rollback_classifier(name))


@classifiers_app.command()
def report(
    name: str,
    version: Annotated[int | None, typer.Option(help="Default: the served version.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write report.md/.json and PNGs here.")] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Print a version's markdown report, or write it with its images to a folder."""
    with connect(server, api_key) as client:
        body = client.classifier_report(name, version)
        assert isinstance(body, dict)
        number = int(body["ref"].rsplit(":", 1)[1])
        markdown = client.classifier_report(name, number, format="markdown")
        if out is None:
            typer.echo(markdown)
            return
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(str(markdown))
        (out / "report.json").write_text(json.dumps(body, indent=2))
        images = ["confusion.png"] + (["curves.png"] if body.get("curves") else [])
        for image in images:
            (out / image).write_bytes(client.classifier_file(name, number, image))
    console.print(f"{body['ref']}: report written to {out}")


@classifiers_app.command()
def examples(
    name: str,
    label: str,
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    version: Annotated[int | None, typer.Option()] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Add labelled clips (also of a new label): a new version in seconds."""
    with connect(server, api_key) as client:
        print_json(asdict(client.add_examples(name, label, list(files), version=version)))


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(predict)
    app.command()(detect)
    app.add_typer(classifiers_app, name="classifiers")
