"""Cosine scoring: one pair (verification) or one query against every voiceprint at once.

Embeddings and voiceprints are L2-normalised, so a cosine score is a dot product and scoring a
query against N enrolled speakers is one matrix-vector product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import InvalidParameter
from tympan.store.db import Database
from tympan.store.speakers import speaker_store

__all__ = [
    "Candidate",
    "Identification",
    "Verification",
    "VoiceprintIndex",
    "check_threshold",
    "enrolled_index",
    "verify",
]


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether two voices are the same speaker: the score, the threshold, the decision."""

    model: str
    score: float
    threshold: float
    same_speaker: bool
    speaker_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An enrolled speaker and how well the query matches them."""

    speaker_id: str
    name: str
    score: float


@dataclass(frozen=True, slots=True)
class Identification:
    """Open-set identification: ``speaker`` is the best match over threshold, else ``None``."""

    model: str
    threshold: float
    speaker: Candidate | None
    ranking: list[Candidate] = field(default_factory=list)


def check_threshold(threshold: float) -> float:
    """``InvalidParameter`` (400) unless ``threshold`` is a cosine score in [-1, 1]."""
    if not -1.0 <= threshold <= 1.0:
        raise InvalidParameter("threshold must be between -1 and 1.", param="threshold")
    return threshold


def verify(model: str, first: np.ndarray, second: np.ndarray, threshold: float) -> Verification:
    """Compare two normalised embeddings; same speaker when the cosine reaches ``threshold``."""
    score = round(float(np.clip(first @ second, -1.0, 1.0)), 6)  # decide on the reported score
    return Verification(model, score, threshold, score >= threshold)


@dataclass(frozen=True, slots=True)
class VoiceprintIndex:
    """Voiceprints of enrolled speakers as one ``(speakers, dim)`` matrix; a speaker known
    only to one request (a reference clip, not enrolled) has the id ``None``."""

    ids: list[str | None]
    names: list[str]
    matrix: np.ndarray

    def with_references(self, names: Sequence[str], vectors: np.ndarray) -> VoiceprintIndex:
        """This index plus request-scoped speakers, which replace enrolled ones of the same
        name (case-insensitive), so one name never stands for two voices."""
        replaced = {name.casefold() for name in names}
        keep = [i for i, name in enumerate(self.names) if name.casefold() not in replaced]
        return VoiceprintIndex(
            [*(self.ids[i] for i in keep), *([None] * len(names))],
            [*(self.names[i] for i in keep), *names],
            np.concatenate(
                [self.matrix[keep].reshape(len(keep), vectors.shape[1]), vectors]
            ).astype(np.float32),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of ``query`` against every voiceprint (one matmul)."""
        if not self.ids:
            return np.zeros(0, np.float32)
        return np.clip(self.matrix @ query, -1.0, 1.0)

    def identify(
        self, model: str, query: np.ndarray, threshold: float, top_k: int = 5
    ) -> Identification:
        """The ``top_k`` best matches, and the best one if it reaches ``threshold``."""
        scores = self.scores(query)
        top_k = min(top_k, len(scores))
        best = np.argpartition(-scores, top_k - 1)[:top_k] if top_k else np.zeros(0, int)
        best = best[np.argsort(-scores[best], kind="stable")]
        ranking = [Candidate(self.ids[i], self.names[i], round(float(scores[i]), 6)) for i in best]
        chosen = ranking[0] if ranking and ranking[0].score >= threshold else None
        return Identification(model, threshold, chosen, ranking)


def enrolled_index(
    db: Database,
    model: str,
    speaker_ids: Sequence[str] | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> VoiceprintIndex:
    """The voiceprints enrolled with ``model`` in ``namespace`` (or only ``speaker_ids``), ready
    to score; blocking (a database read), so async callers run it in a thread."""
    voiceprints = speaker_store(db).index(model, speaker_ids, namespace)
    return VoiceprintIndex(voiceprints.ids, voiceprints.names, voiceprints.matrix)
