"""Enrolled speakers as records: what the store keeps per sample, and what clients see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

__all__ = ["SampleEmbedding", "Speaker"]


@dataclass(frozen=True, slots=True)
class SampleEmbedding:
    """One enrollment recording, reduced to what is stored: its embedding, length and name."""

    embedding: np.ndarray
    duration: float
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Speaker:
    """An enrolled speaker as clients see it (the voiceprint itself stays in the store)."""

    id: str
    name: str
    model: str
    num_samples: int
    speech_seconds: float
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
