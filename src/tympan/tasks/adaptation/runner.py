"""The one place the job service calls the training (``finetune``): the request's choices as
``FinetuneOptions``, the datasets, the run.

The service imports this module when a job is created or runs, not when the server starts:
the task pulls in ``transformers`` and ``peft``, seconds of imports no transcription needs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tympan.errors import InvalidParameter
from tympan.shipping import Shipment
from tympan.tasks.adaptation.dataset import Utterance, read_manifest, split_dataset
from tympan.tasks.adaptation.finetune import (
    DEFAULT_LEARNING_RATES,
    FinetuneOptions,
    FinetuneProgress,
    FinetuneResult,
    finetune,
)

__all__ = [
    "FinetuneProgress",
    "finetune",
    "finetune_elsewhere",
    "finetune_options",
    "read_datasets",
    "ship_inputs",
]


def finetune_options(
    method: str,
    layers: str | None,
    augment: tuple[str, ...],
    seed: int,
    *,
    epochs: int | None,
    batch_size: int | None,
    learning_rate: float | None,
    learning_rate_multiplier: float | None,
    lora_rank: int | None,
    max_steps: int | None,
    language: str,
    noise_dir: Path | None,
) -> FinetuneOptions:
    """The task's options: what the request chose, the task's defaults elsewhere; 400 naming
    the first choice out of range (noise without ``TYMPAN_ADAPTATION_NOISE_DIR``)."""
    defaults = FinetuneOptions()
    if "noise" in augment and noise_dir is None:
        raise InvalidParameter(
            "augment 'noise' needs a folder of background recordings: set "
            "TYMPAN_ADAPTATION_NOISE_DIR.",
            param="augment",
        )
    if learning_rate is None and learning_rate_multiplier is not None:
        learning_rate = learning_rate_multiplier * DEFAULT_LEARNING_RATES[method]
    options = FinetuneOptions(
        method=method,  # type: ignore[arg-type]
        layers=layers or defaults.layers,  # type: ignore[arg-type]
        epochs=epochs or defaults.epochs,
        learning_rate=learning_rate,
        batch_size=batch_size or defaults.batch_size,
        lora_rank=lora_rank or defaults.lora_rank,
        augment=frozenset(augment),
        max_steps=max_steps or defaults.max_steps,
        seed=seed,
        language=language,
        noise_dir=noise_dir,
    )
    options.check()
    return options


def read_datasets(
    training: Path, validation: Path | None, validation_share: float, seed: int
) -> tuple[list[Utterance], list[Utterance]]:
    """Training and validation utterances from unpacked dataset folders: the validation
    folder's, else a split of the training set (400 naming the problem and the row)."""
    train = read_manifest(training)
    if validation is not None:
        return train, read_manifest(validation)
    return split_dataset(train, validation_share, seed)


def ship_inputs(
    base: Path, train: list[Utterance], validation: list[Utterance], options: FinetuneOptions
) -> tuple[Shipment, Shipment, list[Utterance], list[Utterance], FinetuneOptions, Shipment | None]:
    """``finetune``'s arguments for ``finetune_elsewhere``, by value: the base model's folder,
    the utterances' audio (and the utterances naming their clips inside it), the options, and
    the noise folder if they name one."""
    utterances = train + validation
    audio, names = Shipment.of_files([u.audio for u in utterances], _common_folder(utterances))
    named = [replace(u, audio=Path(name)) for u, name in zip(utterances, names, strict=True)]
    noises = None if options.noise_dir is None else Shipment.of_folder(options.noise_dir)
    return (
        Shipment.of_folder(base),
        audio,
        named[: len(train)],
        named[len(train) :],
        replace(options, noise_dir=None),
        noises,
    )


def finetune_elsewhere(
    base: Shipment,
    audio: Shipment,
    train: list[Utterance],
    validation: list[Utterance],
    options: FinetuneOptions,
    noises: Shipment | None,
    progress: Callable[[FinetuneProgress], None],
    should_stop: Callable[[], bool],
) -> tuple[FinetuneResult, Shipment]:
    """``finetune`` on any machine (a Ray task): the shipped inputs (``ship_inputs``) are
    unpacked into a scratch folder here; the two folders it writes come back by value, and the
    result names them relative to where they are unpacked."""
    with tempfile.TemporaryDirectory(prefix="tympan-finetune-") as scratch:
        work = Path(scratch)
        clips = audio.unpack(work / "audio")
        if noises is not None:
            options = replace(options, noise_dir=noises.unpack(work / "noise"))
        out = work / "result"
        result = finetune(
            base.unpack(work / "base"),
            [replace(u, audio=clips / u.audio) for u in train],
            [replace(u, audio=clips / u.audio) for u in validation],
            options,
            out,
            progress,
            should_stop,
        )
        files = Shipment.of_folder(out)
        return replace(
            result,
            serving_dir=result.serving_dir.relative_to(out),
            training_dir=result.training_dir.relative_to(out),
        ), files


def _common_folder(utterances: list[Utterance]) -> Path:
    """The deepest folder holding every utterance's audio."""
    folders = {str(u.audio.parent) for u in utterances}
    return Path(os.path.commonpath(sorted(folders)))
