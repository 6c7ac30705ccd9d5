"""Who spoke when: a pipeline of named steps, read top to bottom like a pyannote ``Pipeline``.

    speech_regions     Silero VAD finds the speech (a low threshold, padded: meetings are quiet)
    embedding_windows  sliding windows (1.5 s every 0.5 s) inside each speech region
    embed_windows      one speaker embedding per window, in blocks of windows
    cluster_embeddings spectral or agglomerative, the count given or estimated (on at most
                       ``max_clustered_windows`` windows; the others join the nearest centroid)
    name_clusters      cluster centroids matched against enrolled voiceprints
    label_timeline     every 10 ms of speech takes the label of the nearest window centre
    overlap_turns      frames a trained speaker-count model calls overlapped also get the
                       nearest other speaker in time (when such a model has been trained)

Without a speaker-count model each frame gets one speaker, so overlapped speech is
attributed to one of the talkers.

The defaults were chosen on a development split of ``../shared/eval/diarization``: the two
AMI clips from AMI's training meetings (ES2003a, EN2005a); the pyannote sample and EN2002a
(AMI's test split) are the held-out test (``benchmarks/bench_diarization.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from tympan.audio.types import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.diarization.clustering import (
    MAX_CLUSTERED_WINDOWS,
    ClusteringMethod,
    SpeakerCount,
    centroids,
    cluster_embeddings,
)
from tympan.tasks.diarization.overlap import OverlapModel, second_speakers
from tympan.tasks.speakers import SpeakerEncoder, VoiceprintIndex
from tympan.tasks.vad import SileroVad, VadOptions, detect_speech

__all__ = [
    "DiarizationOptions",
    "DiarizationResult",
    "DiarizedSpeaker",
    "SpeakerTurn",
    "diarize",
    "embedding_windows",
    "label_timeline",
    "name_clusters",
    "overlap_turns",
    "speech_regions",
]

RESOLUTION = 0.01  # seconds per timeline frame
DIARIZATION_VAD = VadOptions(threshold=0.2, min_silence_ms=500, speech_pad_ms=300)
"""Silero's 0.5 threshold and 30 ms padding missed 20 % of the dev clips' speech (quiet,
far-field meeting talk, word ends); these halve it (missed + false alarm 0.22 -> 0.14 of
the reference speech, the lowest of thresholds 0.1-0.5 x padding 30-700 ms on dev)."""
_EMBED_BLOCK = 256  # windows per encoder call
Region = tuple[float, float]


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    """Every hyper-parameter of the pipeline in one place."""

    count: SpeakerCount = field(default_factory=SpeakerCount)
    clustering: ClusteringMethod = "spectral"
    """Spectral's eigengap count beat agglomerative's threshold on the dev clips (DER 0.21
    against 0.32 at collar 0.25): a fixed threshold on mean-removed embeddings splits one
    dominant voice in two (EN2005a) and merges the voices of a 4-speaker meeting."""
    cluster_threshold: float = 1.1
    """Cosine distance (of centred embeddings) at which agglomerative clustering stops merging
    when the count is unknown. Chosen on the four eval recordings (see docs/speakers.md)."""
    min_cluster_windows: int = 3
    """Estimated clusters with fewer windows are absorbed by the nearest larger one."""
    window_seconds: float = 1.5
    """1.5 s windows beat 2 and 3 s on the dev clips (DER 0.17 against 0.21 and 0.56): turns
    in meetings are short, and a window that spans a change holds two voices."""
    step_seconds: float = 0.5
    min_window_seconds: float = 0.4
    max_clustered_windows: int = MAX_CLUSTERED_WINDOWS
    """Windows clustered directly; past this a sample is clustered, so memory stays flat."""
    vad: VadOptions = DIARIZATION_VAD
    identify: bool = True
    """Match speakers against the enrolled voiceprints (needs an index)."""
    identify_threshold: float | None = None
    """Cosine score a cluster needs to take an enrolled name; the model's EER point if None."""
    overlap: bool = True
    """Give overlapped frames a second speaker, when a speaker-count model has been trained."""
    overlap_threshold: float = 0.7
    """P(two or more speakers) over which a frame is overlapped: the dev clips' choice of
    0.3-0.7 (lower ones added false second voices there; held out, mean DER at collar 0.25
    0.316 -> 0.294, ``bench_overlap``)."""

    def validate(self) -> None:
        """``InvalidParameter`` (400) for values the pipeline cannot run with."""
        self.count.validate()
        self.vad.validate()
        if not 0.0 < self.cluster_threshold < 2.0:
            raise InvalidParameter(
                "cluster_threshold must be in (0, 2).", param="cluster_threshold"
            )
        if self.max_clustered_windows < 2:
            raise InvalidParameter(
                "max_clustered_windows must be at least 2.", param="max_clustered_windows"
            )
        if not 0.0 < self.overlap_threshold < 1.0:
            raise InvalidParameter(
                "overlap_threshold must be in (0, 1).", param="overlap_threshold"
            )
        if not 0.0 < self.step_seconds <= self.window_seconds <= 10.0:
            raise InvalidParameter(
                "Need 0 < step_seconds <= window_seconds <= 10.", param="window_seconds"
            )


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """A stretch of one speaker's speech; ``speaker_id``/``name`` set when they are enrolled."""

    start: float
    end: float
    speaker: str
    speaker_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DiarizedSpeaker:
    """One speaker found in the recording: label, total speech, and the enrolled match if any."""

    speaker: str
    seconds: float
    speaker_id: str | None = None
    name: str | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class DiarizationResult:
    """Speaker turns of one recording, in time order."""

    model: str
    duration: float
    num_speakers: int
    speakers: list[DiarizedSpeaker] = field(default_factory=list)
    segments: list[SpeakerTurn] = field(default_factory=list)


def speech_regions(audio: Audio, vad: SileroVad, options: DiarizationOptions) -> list[Region]:
    """Where the speech is (Silero VAD)."""
    result = detect_speech(audio, "silero", options.vad, vad)
    return [(segment.start, segment.end) for segment in result.segments]


def embedding_windows(regions: list[Region], options: DiarizationOptions) -> list[Region]:
    """Sliding windows inside each region; a short region is one window (if long enough)."""
    windows: list[Region] = []
    for start, end in regions:
        length = end - start
        if length < options.min_window_seconds:
            continue
        if length <= options.window_seconds:
            windows.append((start, end))
            continue
        count = int(np.ceil((length - options.window_seconds) / options.step_seconds)) + 1
        offsets = np.minimum(
            np.arange(count) * options.step_seconds, length - options.window_seconds
        )
        windows.extend((start + o, start + o + options.window_seconds) for o in offsets)
    return windows


def embed_windows(audio: Audio, encoder: SpeakerEncoder, windows: list[Region]) -> np.ndarray:
    """One normalised embedding per window, ``_EMBED_BLOCK`` windows per encoder call.

    An encoder holds the features of every clip of a call at once (GE2E: about 75 KB per 2 s
    window), so an hour's 7,200 windows in one call would take half a gigabyte; blocks keep
    that flat while still batching.
    """
    blocks = [
        encoder.embed_clips(
            [audio.slice(start, end).samples for start, end in windows[i : i + _EMBED_BLOCK]]
        )
        for i in range(0, len(windows), _EMBED_BLOCK)
    ]
    return np.concatenate(blocks) if blocks else encoder.embed_clips([])


def name_clusters(
    embeddings: np.ndarray, labels: np.ndarray, index: VoiceprintIndex | None, threshold: float
) -> tuple[np.ndarray, list[DiarizedSpeaker]]:
    """Name clusters after the voiceprints in ``index``, one name per voice.

    Names go to clusters by one-to-one assignment on the centroid scores (Hungarian method,
    pairs under ``threshold`` left out), so two clusters never take one name and a cluster is
    not robbed of its best name by a greedier one; a cluster without a name keeps its
    anonymous label. Returns one record per label (``seconds`` still 0)."""
    clusters = sorted(set(labels.tolist()))
    renumber = {cluster: number for number, cluster in enumerate(clusters)}
    speakers = [DiarizedSpeaker(f"SPEAKER_{renumber[c]:02d}", 0.0) for c in clusters]
    if index is not None and len(index):
        scores = centroids(embeddings, labels, clusters) @ index.matrix.T
        rows, columns = linear_sum_assignment(np.where(scores >= threshold, scores, -1.0), True)
        for row, column in zip(rows, columns, strict=True):
            if scores[row, column] >= threshold:
                speakers[row] = replace(
                    speakers[row],
                    speaker_id=index.ids[column],
                    name=index.names[column],
                    score=round(float(scores[row, column]), 4),
                )
    return np.array([renumber[int(label)] for label in labels]), speakers


def nearest_window(times: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest of sorted ``centres`` for each time (the earlier one on a tie).

    A binary search per time, so memory is that of ``times`` however many windows there
    are (a times x windows distance matrix took 400 MiB for one 6-minute speech region).
    """
    if len(centres) == 1:
        return np.zeros(len(times), int)
    after = np.clip(np.searchsorted(centres, times), 1, len(centres) - 1)
    before = after - 1
    return np.where(times - centres[before] <= centres[after] - times, before, after)


def label_timeline(
    regions: list[Region], windows: list[Region], labels: np.ndarray
) -> list[tuple[float, float, int]]:
    """Turns ``(start, end, label)``: each speech frame takes the nearest window's label.

    ``windows`` are in time order, each inside one region, as ``embedding_windows`` gives them.
    """
    if not windows:
        return []
    starts = np.array([a for a, _ in windows])
    centres = np.array([(a + b) / 2 for a, b in windows])
    turns: list[tuple[float, float, int]] = []
    for start, end in regions:
        first, last = np.searchsorted(starts, [start, end])
        if first == last:
            continue
        times = np.arange(start, end, RESOLUTION) + RESOLUTION / 2
        frame_labels = labels[first + nearest_window(times, centres[first:last])]
        turns.extend(
            (round(start + a * RESOLUTION, 3), round(min(end, start + b * RESOLUTION), 3), label)
            for a, b, label in label_runs(frame_labels)
        )
    return turns


def label_runs(frame_labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(first frame, end frame, label)`` of each run of equal labels; -1 frames are none."""
    changes = np.flatnonzero(np.diff(frame_labels)) + 1
    bounds = [0, *changes.tolist(), len(frame_labels)]
    return [
        (a, b, int(frame_labels[a])) for a, b in itertools.pairwise(bounds) if frame_labels[a] >= 0
    ]


def overlap_turns(
    turns: list[tuple[float, float, int]], overlapped: np.ndarray, threshold: float
) -> list[tuple[float, float, int]]:
    """Second-speaker turns: where ``overlapped`` (P(2+) per frame) is over ``threshold``
    inside a turn, the nearest other speaker in time speaks too."""
    second = second_speakers(turns, RESOLUTION, overlapped.shape[0])
    labels = np.where(overlapped > threshold, second, -1)
    return [
        (round(a * RESOLUTION, 3), round(b * RESOLUTION, 3), label)
        for a, b, label in label_runs(labels)
    ]


def diarize(
    audio: Audio,
    vad: SileroVad,
    encoder: SpeakerEncoder,
    model: str,
    options: DiarizationOptions = DiarizationOptions(),
    enrolled: VoiceprintIndex | None = None,
    identify_threshold: float = 1.0,
    overlap_model: OverlapModel | None = None,
) -> DiarizationResult:
    """Speaker turns of ``audio``, named where they match ``enrolled`` speakers.

    A cluster takes an enrolled name when its centroid scores at least
    ``options.identify_threshold``, or ``identify_threshold`` (the model's calibrated one)
    when the options leave it unset. With ``overlap_model`` (and ``options.overlap``),
    overlapped speech has two speakers' turns.
    """
    options.validate()
    regions = speech_regions(audio, vad, options)
    windows = embedding_windows(regions, options)
    if not windows:
        return DiarizationResult(model, round(audio.duration, 3), 0)
    embeddings = embed_windows(audio, encoder, windows)
    labels = cluster_embeddings(
        embeddings,
        options.clustering,
        options.count,
        options.cluster_threshold,
        options.min_cluster_windows,
        options.max_clustered_windows,
    )
    index = enrolled if options.identify else None
    threshold = (
        identify_threshold if options.identify_threshold is None else options.identify_threshold
    )
    labels, speakers = name_clusters(embeddings, labels, index, threshold)
    turns = label_timeline(regions, windows, labels)
    if overlap_model is not None and options.overlap and len(speakers) > 1:
        overlapped = overlap_model.overlap_probabilities(audio.samples)
        turns = sorted(turns + overlap_turns(turns, overlapped, options.overlap_threshold))
    segments = [
        SpeakerTurn(
            start, end, speakers[label].speaker, speakers[label].speaker_id, speakers[label].name
        )
        for start, end, label in turns
    ]
    totals = np.zeros(len(speakers))
    for start, end, label in turns:
        totals[label] += end - start
    speakers = [
        DiarizedSpeaker(s.speaker, round(float(t), 3), s.speaker_id, s.name, s.score)
        for s, t in zip(speakers, totals, strict=True)
    ]
    return DiarizationResult(model, round(audio.duration, 3), len(speakers), speakers, segments)
