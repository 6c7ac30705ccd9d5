"""Clustering of speaker embeddings: counts honoured, estimated, validated."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tympan.errors import InvalidParameter
from tympan.tasks.diarization import SpeakerCount, cluster_embeddings
from tympan.tasks.diarization.clustering import MAX_CLUSTERED_WINDOWS, absorb_small_clusters
from tympan.tasks.speakers import l2_normalise


def _three_voices(per_voice: int = 12) -> np.ndarray:
    rng = np.random.default_rng(3)
    centres = l2_normalise(rng.standard_normal((3, 32)))
    rows = [centre + 0.15 * rng.standard_normal((per_voice, 32)) for centre in centres]
    return l2_normalise(np.concatenate(rows))


@pytest.mark.parametrize("method", ["agglomerative", "spectral"])
def test_estimates_and_honours_counts(method: str) -> None:
    embeddings = _three_voices()
    truth = np.repeat([0, 1, 2], 12)
    estimated = cluster_embeddings(embeddings, method, SpeakerCount(), 1.1)
    assert len(set(estimated)) == 3 and (estimated == truth).all()  # labels by first appearance
    forced = cluster_embeddings(embeddings, method, SpeakerCount(num_speakers=2), 1.1)
    assert len(set(forced)) == 2
    capped = cluster_embeddings(embeddings, method, SpeakerCount(max_speakers=2), 1.1)
    assert len(set(capped)) == 2
    raised = cluster_embeddings(embeddings, method, SpeakerCount(min_speakers=4), 1.1)
    assert len(set(raised)) == 4


@pytest.mark.parametrize("method", ["agglomerative", "spectral"])
def test_sampled_clustering_matches_full(method: str) -> None:
    embeddings = _three_voices(per_voice=30)
    full = cluster_embeddings(embeddings, method, SpeakerCount(), 1.1)
    sampled = cluster_embeddings(embeddings, method, SpeakerCount(), 1.1, max_clustered=20)
    assert (sampled == full).all() and (full == np.repeat([0, 1, 2], 30)).all()


def test_an_hour_of_windows_clusters_in_bounded_memory() -> None:
    per_voice = 3 * MAX_CLUSTERED_WINDOWS  # 18,000 windows: the full matrix would be 1.3 GB
    embeddings = _three_voices(per_voice=per_voice)
    tracemalloc.start()
    try:
        labels = cluster_embeddings(embeddings, "agglomerative", SpeakerCount(), 1.1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.mean(labels == np.repeat([0, 1, 2], per_voice)) > 0.999  # noise makes outliers
    assert peak < 200e6, f"peak {peak / 1e6:.0f} MB"


def test_tiny_inputs() -> None:
    assert cluster_embeddings(np.zeros((0, 4)), "agglomerative", SpeakerCount(), 1.0).size == 0
    one = cluster_embeddings(np.ones((1, 4)) / 2, "spectral", SpeakerCount(num_speakers=3), 1.0)
    assert one.tolist() == [0]


def test_small_clusters_are_absorbed() -> None:
    embeddings = _three_voices(per_voice=6)
    labels = np.repeat([0, 1, 2], 6)
    labels[5] = 3  # a one-window cluster inside voice 0
    fixed = absorb_small_clusters(embeddings, labels, min_size=3)
    assert fixed[5] == 0 and set(fixed) == {0, 1, 2}


@pytest.mark.parametrize(
    "count",
    [
        SpeakerCount(num_speakers=0),
        SpeakerCount(min_speakers=3, max_speakers=2),
        SpeakerCount(num_speakers=5, max_speakers=3),
        SpeakerCount(max_speakers=51),
    ],
)
def test_contradictory_counts_are_refused(count: SpeakerCount) -> None:
    with pytest.raises(InvalidParameter):
        count.validate()
