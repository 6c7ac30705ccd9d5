"""Incremental learning: new examples (or a new label) become a new version in seconds.

The trained body stays frozen; only the linear head is refitted, on the cached body
embeddings of the version's training examples plus those of the new clips, with class
weights so five new examples count as much as a few hundred old ones. The old head's rows
start the refit, so old classes move little. Forgetting is measured on the version's own
validation examples: old-class accuracy before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tympan.tasks.classifiers.architectures import Classifier

__all__ = ["HeadRefit", "refit_head"]


@dataclass(frozen=True, slots=True)
class HeadRefit:
    """The refitted head, the label list it answers with, and the forgetting figures."""

    labels: list[str]
    weight: torch.Tensor
    bias: torch.Tensor
    old_accuracy_before: float
    old_accuracy_after: float
    new_examples_accuracy: float


def _accuracy(head: nn.Linear, values: torch.Tensor, targets: torch.Tensor) -> float:
    if not len(targets):
        return 0.0
    with torch.no_grad():
        return float((head(values).argmax(dim=1) == targets).float().mean())


def refit_head(
    model: Classifier,
    labels: list[str],
    embeddings: np.ndarray,
    targets: np.ndarray,
    validation: np.ndarray,
    new_embeddings: np.ndarray,
    new_label: str,
    steps: int = 300,
    seed: int = 0,
) -> HeadRefit:
    """Refit ``model.head`` on old training embeddings plus ``new_embeddings`` of ``new_label``."""
    torch.manual_seed(seed)
    new_labels = labels if new_label in labels else [*labels, new_label]
    new_index = new_labels.index(new_label)
    old_head: nn.Linear = model.head
    head = nn.Linear(old_head.in_features, len(new_labels))
    with torch.no_grad():
        head.weight[: len(labels)] = old_head.weight
        head.bias[: len(labels)] = old_head.bias
        if new_index >= len(labels):  # start the new row at the new examples' mean direction
            mean = torch.from_numpy(new_embeddings.mean(axis=0))
            head.weight[new_index] = (
                mean / (mean.norm() + 1e-6) * old_head.weight.norm(dim=1).mean()
            )
            head.bias[new_index] = old_head.bias.mean()
    train = ~validation
    values = torch.from_numpy(np.concatenate([embeddings[train], new_embeddings]))
    goal = torch.from_numpy(
        np.concatenate([targets[train], np.full(len(new_embeddings), new_index)])
    ).long()
    counts = torch.bincount(goal, minlength=len(new_labels)).float().clamp(min=1)
    weights = counts.sum() / (len(new_labels) * counts)
    optimiser = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(head(values), goal, weight=weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    held = torch.from_numpy(embeddings[validation])
    held_targets = torch.from_numpy(targets[validation]).long()
    return HeadRefit(
        labels=new_labels,
        weight=head.weight.detach().clone(),
        bias=head.bias.detach().clone(),
        old_accuracy_before=round(_accuracy(old_head, held, held_targets), 4),
        old_accuracy_after=round(_accuracy(head, held, held_targets), 4),
        new_examples_accuracy=round(
            _accuracy(
                head,
                torch.from_numpy(new_embeddings),
                torch.full((len(new_embeddings),), new_index),
            ),
            4,
        ),
    )
