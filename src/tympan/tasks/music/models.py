"""Next-token models over event tokens: the seed's LSTM, a small Transformer, an n-gram baseline.

All three answer the same two questions, so sampling, scoring and serving treat them alike:
``next_log_probs(context)`` (the distribution of the next token after a context) and
``sequence_nll`` (how surprised the model is by whole sequences, for perplexity).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from tympan.tasks.music.tokens import BOS, PAD, VOCAB

__all__ = [
    "SIZES",
    "Architecture",
    "LstmModel",
    "MarkovModel",
    "NetworkConfig",
    "SequenceModel",
    "TokenStream",
    "TransformerModel",
    "build_network",
    "context_window",
]

Architecture = Literal["lstm", "transformer", "markov"]
HEAD = 3
"""``BOS KEY METER``: the conditioning prefix every window keeps."""


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Shape of a network; ``SIZES`` names the two presets."""

    arch: str
    embedding: int
    hidden: int
    layers: int
    heads: int = 4
    max_len: int = 384
    dropout: float = 0.1


SIZES: dict[str, dict[str, NetworkConfig]] = {
    "small": {
        "lstm": NetworkConfig("lstm", 64, 192, 2),
        "transformer": NetworkConfig("transformer", 96, 384, 3, heads=4),
    },
    "tiny": {
        "lstm": NetworkConfig("lstm", 32, 64, 1, dropout=0.0),
        "transformer": NetworkConfig("transformer", 32, 64, 2, heads=2, dropout=0.0),
    },
}


class SequenceModel(Protocol):
    """What sampling and scoring need from a model."""

    def next_log_probs(self, context: list[int]) -> np.ndarray:
        """Log-probabilities of every token after ``context`` (which starts with BOS)."""

    def sequence_nll(self, sequences: list[list[int]]) -> tuple[float, int]:
        """Total negative log-likelihood (nats) of every token after BOS, and their count."""

    def stream(self, context: list[int]) -> TokenStream:
        """A generator state positioned after ``context``."""


class TokenStream:
    """Generation state: the next-token distribution, and ``push`` to move on by one token.

    This default asks the model again with the whole context each step; the LSTM overrides it
    to carry its recurrent state instead.
    """

    def __init__(self, model: SequenceModel, context: list[int]) -> None:
        self.model = model
        self.context = list(context)

    def log_probs(self) -> np.ndarray:
        return self.model.next_log_probs(self.context)

    def push(self, token: int) -> None:
        self.context.append(token)


def context_window(ids: list[int], max_len: int) -> list[int]:
    """``ids`` cut to ``max_len`` tokens, keeping the key/meter head and the most recent rest."""
    if len(ids) <= max_len:
        return ids
    return ids[:HEAD] + ids[len(ids) - (max_len - HEAD) :]


class _Network(nn.Module):
    """Shared parts: token embedding, output projection, teacher-forced scoring."""

    config: NetworkConfig

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(len(VOCAB), config.embedding, padding_idx=PAD)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (batch, time) -> logits
        raise NotImplementedError

    @torch.inference_mode()
    def next_log_probs(self, context: list[int]) -> np.ndarray:
        window = context_window(context, self.config.max_len)
        logits = self(torch.tensor([window]))[0, -1]
        return torch.log_softmax(logits.float(), -1).numpy().astype(np.float64)

    @torch.inference_mode()
    def sequence_nll(self, sequences: list[list[int]]) -> tuple[float, int]:
        self.eval()
        total, count = 0.0, 0
        for inputs, targets in batches(sequences, self.config.max_len, 32):
            logits = self(inputs)
            loss = nn.functional.cross_entropy(
                logits.transpose(1, 2), targets, ignore_index=PAD, reduction="sum"
            )
            total += float(loss)
            count += int((targets != PAD).sum())
        return total, count

    def stream(self, context: list[int]) -> TokenStream:
        return TokenStream(self, context)


class LstmModel(_Network):
    """The seed's architecture: embedding -> stacked LSTM -> linear over the vocabulary."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__(config)
        self.lstm = nn.LSTM(
            config.embedding,
            config.hidden,
            config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.out = nn.Linear(config.hidden, len(VOCAB))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.embed(ids))
        return self.out(hidden)

    def stream(self, context: list[int]) -> TokenStream:
        return _LstmStream(self, context)


class _LstmStream(TokenStream):
    """Carries the LSTM's (h, c) so each new token costs one step, not a rerun."""

    def __init__(self, model: LstmModel, context: list[int]) -> None:
        super().__init__(model, context)
        self.network = model
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self._feed(context)

    @torch.inference_mode()
    def _feed(self, ids: list[int]) -> None:
        hidden, self.state = self.network.lstm(self.network.embed(torch.tensor([ids])), self.state)
        self._log_probs = torch.log_softmax(self.network.out(hidden[0, -1]), -1).double().numpy()

    def log_probs(self) -> np.ndarray:
        return self._log_probs

    def push(self, token: int) -> None:
        self.context.append(token)
        self._feed([token])


class TransformerModel(_Network):
    """A small decoder-only Transformer (pre-norm, learned positions, causal mask)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__(config)
        self.position = nn.Embedding(config.max_len, config.embedding)
        layer = nn.TransformerEncoderLayer(
            config.embedding,
            config.heads,
            config.hidden,
            config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.embedding)
        self.out = nn.Linear(config.embedding, len(VOCAB))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        steps = ids.shape[1]
        positions = torch.arange(steps, device=ids.device)
        mask = nn.Transformer.generate_square_subsequent_mask(steps, device=ids.device)
        hidden = self.blocks(self.embed(ids) + self.position(positions), mask=mask, is_causal=True)
        return self.out(self.norm(hidden))


def build_network(config: NetworkConfig) -> _Network:
    """An untrained network of ``config.arch``."""
    return (LstmModel if config.arch == "lstm" else TransformerModel)(config)


def training_windows(ids: list[int], max_len: int) -> list[tuple[list[int], int]]:
    """Windows of at most ``max_len`` tokens covering ``ids``; each keeps the conditioning head.

    Returns ``(window, first)`` pairs: targets before index ``first`` were scored already.
    """
    if len(ids) <= max_len:
        return [(ids, 1)]
    body, span = ids[HEAD:], max_len - HEAD
    windows = []
    for start in range(0, len(body), span):
        windows.append((ids[:HEAD] + body[start : start + span], 1 if start == 0 else HEAD))
    return windows


def batches(
    sequences: list[list[int]], max_len: int, batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Padded (inputs, targets) tensors; targets already scored are set to PAD (ignored)."""
    windows = [w for ids in sequences for w in training_windows(ids, max_len)]
    windows.sort(key=lambda item: len(item[0]))  # similar lengths together: less padding
    out = []
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        width = max(len(window) for window, _ in chunk) - 1
        inputs = torch.full((len(chunk), width), PAD)
        targets = torch.full((len(chunk), width), PAD)
        for row, (window, first) in enumerate(chunk):
            inputs[row, : len(window) - 1] = torch.tensor(window[:-1])
            targets[row, first - 1 : len(window) - 1] = torch.tensor(window[first:])
        out.append((inputs, targets))
    return out


class MarkovModel:
    """An n-gram baseline with interpolated Witten-Bell smoothing over the token vocabulary.

    Hand-written because it is the yardstick, twenty lines, and needs full distributions over
    this vocabulary (nltk.lm computes one probability at a time, far too slowly for sampling).
    """

    def __init__(self, order: int = 5) -> None:
        self.order = order
        self.counts: dict[tuple[int, ...], Counter[int]] = defaultdict(Counter)

    def fit(self, sequences: list[list[int]]) -> MarkovModel:
        for ids in sequences:
            padded = [BOS] * (self.order - 2) + ids
            for index in range(self.order - 1, len(padded)):
                for length in range(self.order):
                    context = tuple(padded[index - length : index])
                    self.counts[context][padded[index]] += 1
        return self

    def next_log_probs(self, context: list[int]) -> np.ndarray:
        padded = [BOS] * (self.order - 2) + context
        probs = np.full(len(VOCAB), 1.0 / len(VOCAB))
        for length in range(self.order):
            seen = self.counts.get(tuple(padded[len(padded) - length :]) if length else ())
            if not seen:
                break
            counts = np.zeros(len(VOCAB))
            counts[list(seen)] = list(seen.values())
            total, types = counts.sum(), len(seen)
            probs = (counts + types * probs) / (total + types)
        return np.log(probs)

    def sequence_nll(self, sequences: list[list[int]]) -> tuple[float, int]:
        total, count = 0.0, 0
        for ids in sequences:
            for index in range(1, len(ids)):
                total -= float(self.next_log_probs(ids[:index])[ids[index]])
                count += 1
        return total, count

    def stream(self, context: list[int]) -> TokenStream:
        return TokenStream(self, context)

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "counts": [[list(context), dict(c)] for context, c in self.counts.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MarkovModel:
        model = cls(int(data["order"]))
        for context, counts in data["counts"]:
            model.counts[tuple(context)] = Counter({int(k): v for k, v in counts.items()})
        return model


def perplexity(nll: float, count: int) -> float:
    """``exp`` of the mean per-token negative log-likelihood."""
    return math.exp(nll / count) if count else float("inf")
