"""The one place the job service calls the training (``finetune``): the request's choices as
``FinetuneOptions``, the datasets, the run.

The service imports this module when a job is created or runs, not when the server starts:
the task pulls in ``transformers`` and ``peft``, seconds of imports no transcription needs.
"""

from __future__ import annotations

from pathlib import Path

from tympan.errors import InvalidParameter
from tympan.tasks.adaptation.dataset import Utterance, read_manifest, split_dataset
from tympan.tasks.adaptation.finetune import (
    DEFAULT_LEARNING_RATES,
    FinetuneOptions,
    FinetuneProgress,
    finetune,
)

__all__ = ["FinetuneProgress", "finetune", "finetune_options", "read_datasets"]


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
