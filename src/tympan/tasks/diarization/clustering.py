"""Grouping window embeddings by speaker: agglomerative or spectral, with the count honoured.

Both methods work on cosine similarity of L2-normalised embeddings (scikit-learn does the
clustering). When ``num_speakers`` is not given the count is estimated: agglomerative
clustering cuts the average-linkage tree at a distance threshold; spectral clustering takes the
largest eigengap of the normalised Laplacian. An estimate outside ``[min_speakers,
max_speakers]`` is clamped into it.

Both build a rows x rows matrix, so a long recording (7,200 windows an hour) is clustered on
at most ``MAX_CLUSTERED_WINDOWS`` windows spread evenly over it; every window then takes the
label of the nearest cluster centroid. Memory stays flat as the recording grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.sparse.csgraph import laplacian
from sklearn.cluster import AgglomerativeClustering, SpectralClustering

from tympan.errors import InvalidParameter
from tympan.tasks.speakers import l2_normalise

__all__ = ["MAX_CLUSTERED_WINDOWS", "ClusteringMethod", "SpeakerCount", "cluster_embeddings"]

ClusteringMethod = Literal["agglomerative", "spectral"]
MAX_SPEAKERS = 50
MAX_CLUSTERED_WINDOWS = 2000
"""Windows clustered directly (a 2,000 x 2,000 float64 matrix is 32 MB); the rest are assigned."""


@dataclass(frozen=True, slots=True)
class SpeakerCount:
    """What the caller knows about how many speakers there are."""

    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int | None = None

    def validate(self) -> None:
        """``InvalidParameter`` (400) for counts that contradict each other or are out of range."""
        for name in ("num_speakers", "min_speakers", "max_speakers"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_SPEAKERS:
                raise InvalidParameter(f"{name} must be between 1 and {MAX_SPEAKERS}.", param=name)
        if self.max_speakers is not None and self.min_speakers > self.max_speakers:
            raise InvalidParameter("min_speakers is above max_speakers.", param="min_speakers")
        if self.num_speakers is not None and not (
            self.min_speakers <= self.num_speakers <= (self.max_speakers or MAX_SPEAKERS)
        ):
            raise InvalidParameter(
                "num_speakers is outside [min_speakers, max_speakers].", param="num_speakers"
            )

    def clamp(self, estimate: int, available: int) -> int:
        """The estimate within the bounds (and never more clusters than embeddings)."""
        upper = min(self.max_speakers or MAX_SPEAKERS, available)
        return max(1, min(max(estimate, self.min_speakers), upper))


def _agglomerative(embeddings: np.ndarray, count: int | None, threshold: float) -> np.ndarray:
    model = AgglomerativeClustering(
        n_clusters=count,
        metric="cosine",
        linkage="average",
        distance_threshold=None if count is not None else threshold,
    )
    return model.fit_predict(embeddings)


def _affinity(embeddings: np.ndarray) -> np.ndarray:
    return np.clip(embeddings @ embeddings.T, 0.0, 1.0)


def _eigengap_count(affinity: np.ndarray, max_count: int) -> int:
    eigenvalues = np.linalg.eigvalsh(laplacian(affinity, normed=True))
    gaps = np.diff(eigenvalues[: max_count + 1])
    return int(np.argmax(gaps)) + 1 if gaps.size else 1


def _spectral(embeddings: np.ndarray, count: int) -> np.ndarray:
    if count == 1:
        return np.zeros(len(embeddings), int)
    model = SpectralClustering(
        n_clusters=count, affinity="precomputed", random_state=0, assign_labels="cluster_qr"
    )
    return model.fit_predict(_affinity(embeddings))


def centre(embeddings: np.ndarray) -> np.ndarray:
    """Remove the recording's mean embedding and renormalise.

    d-vectors share a large common component (ReLU outputs are all positive), so raw cosines
    between different speakers sit high (0.6-0.7 on 1.5 s windows); without it the contrast
    between same- and different-speaker windows grows several-fold.
    """
    return l2_normalise(embeddings - embeddings.mean(axis=0, keepdims=True))


def centroids(embeddings: np.ndarray, labels: np.ndarray, clusters: Sequence[int]) -> np.ndarray:
    """The normalised mean embedding of each of ``clusters`` (rows labelled with it)."""
    return l2_normalise(np.stack([embeddings[labels == c].mean(axis=0) for c in clusters]))


def absorb_small_clusters(embeddings: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Give the windows of clusters smaller than ``min_size`` to the nearest large cluster."""
    sizes = np.bincount(labels)
    large = np.flatnonzero(sizes >= min_size)
    if large.size == 0 or large.size == sizes.size:
        return labels
    small = ~np.isin(labels, large)
    nearest = np.argmax(embeddings[small] @ centroids(embeddings, labels, large.tolist()).T, axis=1)
    labels = labels.copy()
    labels[small] = large[nearest]
    return labels


def assign_to_centroids(
    embeddings: np.ndarray, sampled: np.ndarray, sampled_labels: np.ndarray
) -> np.ndarray:
    """A label per row of ``embeddings``: that of the nearest centroid of the sampled clusters."""
    clusters = np.unique(sampled_labels)
    found = centroids(embeddings[sampled], sampled_labels, clusters.tolist())
    return clusters[np.argmax(embeddings @ found.T, axis=1)]


def cluster_embeddings(
    embeddings: np.ndarray,
    method: ClusteringMethod,
    count: SpeakerCount,
    threshold: float,
    min_cluster_size: int = 1,
    max_clustered: int = MAX_CLUSTERED_WINDOWS,
) -> np.ndarray:
    """A speaker label per embedding row, labels numbered by first appearance from 0.

    Beyond ``max_clustered`` rows an evenly spaced sample is clustered and the others are
    assigned to its centroids (``min_cluster_size`` then counts sampled rows).
    """
    count.validate()
    rows = len(embeddings)
    if rows == 0:
        return np.zeros(0, int)
    if rows == 1:
        return np.zeros(1, int)
    embeddings = centre(embeddings)
    if rows > max_clustered:
        sampled = np.linspace(0, rows - 1, max_clustered).round().astype(int)
        labels = assign_to_centroids(
            embeddings,
            sampled,
            _cluster(embeddings[sampled], method, count, threshold, min_cluster_size),
        )
    else:
        labels = _cluster(embeddings, method, count, threshold, min_cluster_size)
    _, first = np.unique(labels, return_index=True)
    order = {int(labels[i]): rank for rank, i in enumerate(sorted(first))}
    return np.array([order[int(label)] for label in labels])


def _cluster(
    embeddings: np.ndarray,
    method: ClusteringMethod,
    count: SpeakerCount,
    threshold: float,
    min_cluster_size: int,
) -> np.ndarray:
    """Labels of centred embeddings by ``method`` (numbered as scikit-learn returns them)."""
    rows = len(embeddings)
    if method == "agglomerative":
        if count.num_speakers is not None:
            labels = _agglomerative(embeddings, count.clamp(count.num_speakers, rows), threshold)
        else:
            labels = _agglomerative(embeddings, None, threshold)
            if count.num_speakers is None and min_cluster_size > 1:
                labels = absorb_small_clusters(embeddings, labels, min_cluster_size)
            found = len(set(labels.tolist()))
            if count.clamp(found, rows) != found:
                labels = _agglomerative(embeddings, count.clamp(found, rows), threshold)
    elif method == "spectral":
        upper = min(count.max_speakers or MAX_SPEAKERS, rows - 1)
        estimate = count.num_speakers or _eigengap_count(_affinity(embeddings), upper)
        labels = _spectral(embeddings, count.clamp(estimate, rows))
    else:
        raise InvalidParameter(f"Unknown clustering method {method!r}.", param="clustering")
    return labels
