"""``SpeakerLabeller``: who spoke a live turn, from the turn's speaker embedding.

An enrolled speaker whose voiceprint scores over the model's threshold gives the turn their
name. Otherwise the turn joins the session's closest anonymous speaker (``SPEAKER_0``,
``SPEAKER_1``, ...) when it is close enough, or starts a new one. Turns too short for a
reliable embedding only join an existing speaker (without moving its centroid), so a cough
does not invent a person.
"""

from __future__ import annotations

import numpy as np

from tympan.tasks.speakers import VoiceprintIndex, l2_normalise

__all__ = ["MIN_NEW_SPEAKER_SECONDS", "SpeakerLabeller"]

MIN_NEW_SPEAKER_SECONDS = 1.0


class SpeakerLabeller:
    """Labels a session's turns; anonymous speakers keep their label for the whole session."""

    def __init__(self, model: str, threshold: float) -> None:
        self.model = model
        self.threshold = threshold
        self._labels: list[str] = []
        self._sums: list[np.ndarray] = []

    def label(self, embedding: np.ndarray, seconds: float, index: VoiceprintIndex | None) -> str:
        """The speaker of a turn whose (unit) embedding is ``embedding``."""
        if index is not None and len(index):
            match = index.identify(self.model, embedding, self.threshold, top_k=1).speaker
            if match is not None:
                return match.name
        if self._sums:
            centroids = l2_normalise(np.stack(self._sums))
            scores = centroids @ embedding
            best = int(np.argmax(scores))
            reliable = seconds >= MIN_NEW_SPEAKER_SECONDS
            if scores[best] >= self.threshold or not reliable:
                if reliable:
                    self._sums[best] = self._sums[best] + embedding
                return self._labels[best]
        self._labels.append(f"SPEAKER_{len(self._labels)}")
        self._sums.append(embedding.astype(np.float32))
        return self._labels[-1]
