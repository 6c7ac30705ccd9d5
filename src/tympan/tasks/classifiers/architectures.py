"""The trainable networks. Each is a ``body`` giving an embedding and a linear ``head``.

- ``transfer``: a two-layer MLP over pooled, frozen Whisper-encoder embeddings (input
  standardisation is part of the module, so the exported graph takes raw embeddings).
- ``cnn``: a VGG-like stack of 3x3 convolutions on log-mel, global mean+max pooling.
- ``crnn``: convolutions, then a bidirectional GRU over time.
- ``attention``: a convolutional front end, then self-attention layers and attention pooling.
- ``multimodal``: ``transfer``'s MLP over the pooled encoder embedding concatenated with the
  transcript's text features (``text_features``): both branches fused into one head.

Splitting body and head is what makes incremental updates cheap: a new class only needs the
head refitted on body embeddings, which are cached.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "ENCODER_ARCHITECTURES",
    "Architecture",
    "Classifier",
    "build_classifier",
]

Architecture = Literal["transfer", "cnn", "crnn", "attention", "multimodal"]
ARCHITECTURES: tuple[Architecture, ...] = ("transfer", "cnn", "crnn", "attention", "multimodal")
# Networks over pooled Whisper-encoder embeddings (the others see log-mel frames).
ENCODER_ARCHITECTURES: tuple[Architecture, ...] = ("transfer", "multimodal")


class Classifier(nn.Module):
    """``body`` (input -> embedding) then ``head`` (embedding -> logits)."""

    def __init__(self, body: nn.Module, embedding_dim: int, classes: int, dropout: float) -> None:
        super().__init__()
        self.body = body
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding_dim, classes)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """The body's embedding of a batch."""
        return self.body(inputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.body(inputs)))

    def replace_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Install a refitted head (possibly with more classes)."""
        head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(bias)
        self.head = head


class _Standardised(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs - self.mean) / self.scale


def _transfer_body(input_dim: int, hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        _Standardised(input_dim),
        nn.Dropout(dropout),
        nn.Linear(input_dim, hidden),
        nn.GELU(),
    )


def _conv_block(inputs: int, outputs: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
        nn.Conv2d(outputs, outputs, 3, padding=1),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
        nn.MaxPool2d(pool),
    )


class _VggBody(nn.Module):
    """(batch, frames, bands) -> (batch, 2 * channels[-1]) via VGG blocks and global pooling."""

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32)) -> None:
        super().__init__()
        blocks, previous = [], 1
        for width in channels:
            blocks.append(_conv_block(previous, width, (2, 2)))
            previous = width
        self.blocks = nn.Sequential(*blocks)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        maps = self.blocks(inputs.unsqueeze(1))
        flat = maps.flatten(2)
        return torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)


class _CrnnBody(nn.Module):
    """Two conv blocks (pooling frequency more than time), then a BiGRU; mean+max over time."""

    def __init__(self, bands: int, hidden: int = 64) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv_block(1, 16, (2, 2)), _conv_block(16, 32, (1, 4)))
        self.gru = nn.GRU(32 * (bands // 8), hidden, batch_first=True, bidirectional=True)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        maps = self.conv(inputs.unsqueeze(1))  # (batch, channels, frames', bands')
        sequence = maps.permute(0, 2, 1, 3).flatten(2)
        states, _ = self.gru(sequence)
        return torch.cat([states.mean(dim=1), states.amax(dim=1)], dim=1)


class _AttentionBody(nn.Module):
    """Conv front end (4x fewer frames), self-attention layers, learned attention pooling."""

    def __init__(self, bands: int, width: int = 96, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.front = _conv_block(1, 16, (2, 2))
        self.project = nn.Linear(16 * (bands // 2), width)
        self.layers = nn.ModuleList(
            nn.MultiheadAttention(width, heads, batch_first=True) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.feedforward = nn.ModuleList(
            nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
            for _ in range(layers)
        )
        self.score = nn.Linear(width, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        maps = self.front(inputs.unsqueeze(1))
        states = self.project(maps.permute(0, 2, 1, 3).flatten(2))
        for attention, norm, feedforward in zip(
            self.layers, self.norms, self.feedforward, strict=True
        ):
            attended, _ = attention(states, states, states, need_weights=False)
            states = norm(states + attended)
            states = states + feedforward(states)
        weights = torch.softmax(self.score(states), dim=1)
        return (weights * states).sum(dim=1)


def build_classifier(
    arch: Architecture, classes: int, input_dim: int, dropout: float = 0.3
) -> Classifier:
    """A fresh network of ``arch`` for ``classes`` labels (``input_dim``: embedding or bands)."""
    if arch in ENCODER_ARCHITECTURES:
        return Classifier(_transfer_body(input_dim, 256, dropout), 256, classes, dropout)
    if arch == "cnn":
        return Classifier(_VggBody(), 64, classes, dropout)
    if arch == "crnn":
        return Classifier(_CrnnBody(input_dim), 256, classes, dropout)
    if arch == "attention":
        return Classifier(_AttentionBody(input_dim), 96, classes, dropout)
    raise ValueError(f"unknown architecture {arch!r}")
