"""Serving: classify a clip (top-k labels) and detect labelled events in long audio.

Detection runs only where VAD found speech: a speech region about as long as the training
clips is classified whole (as the model saw its examples); longer regions are scanned with
windows of the training clip length. Windows of the same label that overlap merge into one
event; overlapping events of different labels keep the more confident one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tympan.audio import Audio
from tympan.budgets import over_budget
from tympan.deadlines import check_deadline
from tympan.drift import Windows
from tympan.errors import InvalidParameter, UnsupportedOperation
from tympan.tasks.classifiers.drift import clip_observation
from tympan.tasks.classifiers.export import OnnxClassifier
from tympan.tasks.classifiers.features import WhisperEncoder
from tympan.tasks.classifiers.inputs import InputShape, clip_inputs, meta_shape
from tympan.tasks.classifiers.multimodal import fuse
from tympan.tasks.vad import SpeechSegment

__all__ = [
    "DETECT_BATCH",
    "Detection",
    "DetectionResult",
    "LabelScore",
    "Prediction",
    "classify",
    "detect_events",
]

_MIN_CLIP_SECONDS = 0.05
DETECT_BATCH = 64  # windows classified at once


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """The top labels of one clip, most probable first; for a ``multimodal`` classifier, the
    transcript it read as well as heard."""

    model: str
    label: str
    probability: float
    top: list[LabelScore] = field(default_factory=list)
    transcript: str | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """Timed events in a recording, and how much of it was scanned."""

    model: str
    duration: float
    speech_seconds: float
    events: list[Detection] = field(default_factory=list)


def _shape(classifier: OnnxClassifier) -> InputShape:
    return meta_shape(classifier.meta)


def _padded(audio: Audio) -> Audio:
    minimum = int(_MIN_CLIP_SECONDS * audio.sample_rate)
    if audio.samples.size >= minimum:
        return audio
    samples = np.pad(audio.samples, (0, minimum - audio.samples.size))
    return Audio(samples, audio.sample_rate, audio.source)


def _inputs(
    classifier: OnnxClassifier,
    clips: list[Audio],
    encoder: WhisperEncoder | None,
    transcripts: list[str] | None,
) -> np.ndarray:
    inputs = clip_inputs([_padded(clip) for clip in clips], _shape(classifier), encoder)
    if classifier.text is None:
        return inputs
    if transcripts is None:
        raise ValueError("a multimodal classifier needs the clips' transcripts")
    return fuse(inputs, classifier.text, transcripts)


def probabilities(
    classifier: OnnxClassifier, clips: list[Audio], encoder: WhisperEncoder | None
) -> np.ndarray:
    """Class probabilities ``(len(clips), classes)`` of an audio-only classifier."""
    return classifier.probabilities(_inputs(classifier, clips, encoder, None))


def classify(
    model_id: str,
    classifier: OnnxClassifier,
    audio: Audio,
    encoder: WhisperEncoder | None,
    top_k: int = 3,
    drift: Windows | None = None,
    transcript: str | None = None,
) -> Prediction:
    """The ``top_k`` most probable labels of ``audio`` (for ``multimodal``, of it and its
    ``transcript``); what drift watches of the clip is recorded under ``model_id`` in
    ``drift``."""
    labels = classifier.meta.labels
    if not 1 <= top_k <= 100:
        raise InvalidParameter("top_k must be between 1 and 100.", param="top_k")
    transcripts = None if transcript is None else [transcript]
    inputs = _inputs(classifier, [audio], encoder, transcripts)
    scores = classifier.probabilities(inputs)[0]
    if drift is not None:
        drift.add(model_id, clip_observation(audio, inputs[0], scores))
    order = np.argsort(-scores)[:top_k]
    top = [LabelScore(labels[i], round(float(scores[i]), 5)) for i in order]
    shown = transcript if classifier.text is not None else None
    return Prediction(model_id, top[0].label, top[0].probability, top, shown)


def _windows(segment: SpeechSegment, window: float) -> list[tuple[float, float]]:
    length = segment.end - segment.start
    if length <= 1.5 * window:
        return [(segment.start, segment.end)]
    hop = max(window / 4, 0.05)
    starts = np.arange(segment.start, segment.end - window + hop / 2, hop)
    return [(float(s), float(min(s + window, segment.end))) for s in starts]


def _merge(candidates: list[Detection]) -> list[Detection]:
    merged: list[Detection] = []
    for event in sorted(candidates, key=lambda e: e.start):
        last = merged[-1] if merged else None
        if last is not None and last.label == event.label and event.start <= last.end:
            merged[-1] = Detection(
                last.label,
                last.start,
                max(last.end, event.end),
                max(last.probability, event.probability),
            )
        else:
            merged.append(event)
    kept: list[Detection] = []
    for event in sorted(merged, key=lambda e: -e.probability):
        overlap = any(
            min(event.end, k.end) - max(event.start, k.start) > 0.5 * (event.end - event.start)
            for k in kept
        )
        if not overlap:
            kept.append(event)
    return sorted(kept, key=lambda e: e.start)


def detect_events(
    model_id: str,
    classifier: OnnxClassifier,
    audio: Audio,
    speech: list[SpeechSegment],
    encoder: WhisperEncoder | None,
    threshold: float = 0.5,
    ignore: frozenset[str] = frozenset(),
    max_windows: int | None = None,
) -> DetectionResult:
    """Labelled events in the speech regions of ``audio`` with probability >= ``threshold``.

    Windows are scored ``DETECT_BATCH`` at a time, so memory stays flat as audio grows; more
    than ``max_windows`` of them is refused (413) before any is scored.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InvalidParameter("threshold must be between 0 and 1.", param="threshold")
    if classifier.text is not None:
        raise UnsupportedOperation(
            f"{model_id} is multimodal: it classifies whole clips with their transcripts "
            "(predict); detect scans windows of audio alone.",
            param="model",
        )
    spans = [
        span for segment in speech for span in _windows(segment, classifier.meta.window_seconds)
    ]
    if max_windows is not None and len(spans) > max_windows:
        needed = f"{len(spans):,} classifier windows"
        raise over_budget("max_detect_windows", max_windows, needed, param="file")
    candidates: list[Detection] = []
    labels = classifier.meta.labels
    for first in range(0, len(spans), DETECT_BATCH):
        check_deadline()
        batch = spans[first : first + DETECT_BATCH]
        scores = probabilities(
            classifier, [audio.slice(start, end) for start, end in batch], encoder
        )
        for (start, end), row in zip(batch, scores, strict=True):
            best = int(row.argmax())
            if row[best] >= threshold and labels[best] not in ignore:
                candidates.append(
                    Detection(
                        labels[best], round(start, 3), round(end, 3), round(float(row[best]), 5)
                    )
                )
    speech_seconds = sum(segment.end - segment.start for segment in speech)
    return DetectionResult(
        model_id, round(audio.duration, 3), round(speech_seconds, 3), _merge(candidates)
    )
