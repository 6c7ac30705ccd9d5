"""Estimated speakers: group a dataset's clips by voice when the dataset names no speakers.

A folder per class says nothing about who speaks, so a stratified validation split puts every
voice on both sides and early stopping rewards memorising voices. Here each clip is embedded
with the bundled GE2E speaker encoder (``speaker_embeddings``, batched; the caller caches the
rows per dataset fingerprint). Each class's mean embedding is removed first: short clips of
one word carry the word as much as the voice, and without this one speaker's clips split by
word. The rows are then grouped with the diarization clustering (``cluster_embeddings``,
agglomerative on centred cosine) at the count, 2 to ``MAX_ESTIMATED_SPEAKERS``, that
maximises the silhouette score, counting only groups of at least ``MIN_GROUP_SHARE`` of the
clips. The groups then stand in for speakers in ``validation_split``.

Why a count chosen by silhouette rather than a cosine threshold: digits are 0.2-1 s, and the
threshold that recovers the speakers moves with how many there are (on FSDD 0.9 is right for
4 and 6 speakers but splits 3 into 4; 1.0 is right for 3 and merges 6 into 3), while the
silhouette peak gave the true count in all 7 FSDD mixes tried (3, 4 and 6 speakers, 54-600
clips; adjusted Rand index 0.97-1.00). Silhouette cannot say "one group", so a peak below
``MIN_SILHOUETTE`` means one voice (4 single-speaker sets of 30-200 clips peaked at
0.10-0.20, the mixes at 0.32-0.51) and the split stays stratified. Erring toward fewer groups
is safe (a group of whole speakers is still speaker-disjoint); splitting one voice across
groups is what would leak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import silhouette_score

from tympan.audio import Audio
from tympan.tasks.diarization.clustering import SpeakerCount, centre, cluster_embeddings
from tympan.tasks.speakers import SpeakerEncoder, l2_normalise

__all__ = [
    "MAX_ESTIMATED_SPEAKERS",
    "MIN_SILHOUETTE",
    "SPEAKER_RECIPE",
    "SpeakerEstimate",
    "estimate_speakers",
    "speaker_embeddings",
]

SPEAKER_RECIPE = "speakers:resemblyzer-ge2e"
"""Feature-cache recipe of the clip embeddings (the criterion is calibrated for this encoder)."""
MAX_ESTIMATED_SPEAKERS = 10
"""Most groups tried; with more voices than this, groups hold several whole speakers."""
MIN_SILHOUETTE = 0.25
"""Best silhouette (cosine, centred GE2E rows) below which the clips count as one voice."""
MIN_GROUP_CLIPS = 5
"""Each tried group count leaves at least this many clips per group on average."""
MIN_GROUP_SHARE = 0.05
"""A grouping with a group smaller than this share of the clips is not considered."""
_SILHOUETTE_SAMPLE = 2000  # rows scored: the silhouette is O(rows^2)
_EMBED_CHUNK = 64  # clips per encoder call: bounded memory, progress between calls


@dataclass(frozen=True, slots=True)
class SpeakerEstimate:
    """A group name per clip (``None`` when the clips look like one voice), and why."""

    groups: list[str] | None
    count: int
    silhouette: float

    def to_dict(self) -> dict[str, float | int]:
        return {"estimated_speakers": self.count, "silhouette": round(self.silhouette, 4)}


def speaker_embeddings(
    audios: Sequence[Audio],
    encoder: SpeakerEncoder,
    progress: Callable[[float, str], None] | None = None,
) -> np.ndarray:
    """``(len(audios), dim)`` L2-normalised speaker embeddings, ``_EMBED_CHUNK`` clips a call."""
    rows = []
    for start in range(0, len(audios), _EMBED_CHUNK):
        chunk = audios[start : start + _EMBED_CHUNK]
        rows.append(encoder.embed_clips([audio.samples for audio in chunk]))
        if progress is not None:
            progress(min(1.0, (start + len(chunk)) / len(audios)), "embedding voices")
    return np.concatenate(rows) if rows else np.zeros((0, encoder.dim), np.float32)


def _without_class_means(embeddings: np.ndarray, labels: Sequence[object]) -> np.ndarray:
    """Each row minus the mean row of its class (what the word, not the voice, contributes)."""
    classes = np.unique(np.asarray(labels), return_inverse=True)[1]
    means = np.stack([embeddings[classes == c].mean(axis=0) for c in range(classes.max() + 1)])
    return l2_normalise(embeddings - means[classes])


def estimate_speakers(embeddings: np.ndarray, labels: Sequence[object]) -> SpeakerEstimate:
    """Group clips (with class ``labels``) by voice: the diarization clustering at the
    best-silhouette count; one group (``groups`` None) when no count separates voices."""
    rows = len(embeddings)
    upper = min(MAX_ESTIMATED_SPEAKERS, rows // MIN_GROUP_CLIPS)
    if upper < 2:
        return SpeakerEstimate(None, 1, 0.0)
    voices = _without_class_means(embeddings, labels)
    centred = centre(voices)
    sample = min(rows, _SILHOUETTE_SAMPLE)
    best: tuple[float, np.ndarray | None] = (-1.0, None)
    for count in range(2, upper + 1):
        groups = cluster_embeddings(
            voices, "agglomerative", SpeakerCount(num_speakers=count), threshold=1.0
        )
        sizes = np.bincount(groups)
        if sizes.size < 2 or sizes.min() < MIN_GROUP_SHARE * rows:
            continue
        score = float(
            silhouette_score(centred, groups, metric="cosine", sample_size=sample, random_state=0)
        )
        if score > best[0]:
            best = (score, groups)
    score, groups = best
    if groups is None or score < MIN_SILHOUETTE:
        return SpeakerEstimate(None, 1, max(score, 0.0))
    count = int(groups.max()) + 1
    return SpeakerEstimate([f"voice-{group + 1}" for group in groups.tolist()], count, score)
