"""Prometheus metrics: the metric objects, in one place, and the registry an app exposes.

Counters and histograms are module-level (``prometheus-client`` objects, never a hand-written
exposition) and are updated by small hooks where the work happens: the request middleware
(``api/metrics.py``), audio decoding at the boundary, the model manager (loads, unloads,
inference time), the batching queues (batch sizes, depth, refusals) and the live engine.
State that already lives elsewhere (models loaded and their memory, jobs by state, the drift of
each model over its recent inputs) is read at scrape time by ``ServiceCollector`` instead of
being mirrored.

With several processes (uvicorn workers) set ``PROMETHEUS_MULTIPROC_DIR`` before start:
``app_registry`` then aggregates every process's files (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "ASR_AUDIO_SECONDS",
    "AUDIO_SECONDS",
    "BATCH_SIZE",
    "DATABASE_ERRORS",
    "INFERENCE_SECONDS",
    "LIVE_SESSIONS",
    "MODEL_LOADS",
    "MODEL_LOAD_SECONDS",
    "MODEL_UNLOADS",
    "QUEUE_DEPTH",
    "QUEUE_REFUSALS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "DriftSample",
    "ServiceCollector",
    "app_registry",
    "current_route",
    "observe_audio",
    "request_scope",
]

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter(
    "tympan_requests", "HTTP requests answered.", ["route", "method", "status"], registry=None
)
REQUEST_SECONDS = Histogram(
    "tympan_request_seconds",
    "Time from request to the end of the response, by route template.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
    registry=None,
)
AUDIO_SECONDS = Counter(
    "tympan_audio_seconds",
    "Seconds of audio decoded from uploads, by route template.",
    ["route"],
    registry=None,
)
INFERENCE_SECONDS = Histogram(
    "tympan_inference_seconds",
    "Wall time of each model call (a batch for ASR), by task and model.",
    ["task", "model"],
    buckets=_LATENCY_BUCKETS,
    registry=None,
)
ASR_AUDIO_SECONDS = Counter(
    "tympan_asr_audio_seconds",
    "Seconds of audio transcribed, by model (RTFx = its rate / the rate of "
    "tympan_inference_seconds_sum for task asr).",
    ["model"],
    registry=None,
)
BATCH_SIZE = Histogram(
    "tympan_batch_size",
    "Items per batched model call, by queue (asr:<model>).",
    ["queue"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
    registry=None,
)
QUEUE_DEPTH = Gauge(
    "tympan_queue_depth",
    "Items waiting for a batch, by queue.",
    ["queue"],
    registry=None,
    multiprocess_mode="livesum",
)
QUEUE_REFUSALS = Counter(
    "tympan_queue_refusals",
    "Requests refused with 503 because a queue was full, by queue.",
    ["queue"],
    registry=None,
)
DATABASE_ERRORS = Counter(
    "tympan_database_errors",
    "Errors the database driver raised, by SQLAlchemy exception class (IntegrityError includes "
    "races the store resolves, such as two enrollments of one name).",
    ["kind"],
    registry=None,
)
MODEL_LOADS = Counter("tympan_model_loads", "Model loads.", ["model"], registry=None)
MODEL_UNLOADS = Counter("tympan_model_unloads", "Model unloads.", ["model"], registry=None)
MODEL_LOAD_SECONDS = Histogram(
    "tympan_model_load_seconds",
    "Time to load a model.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
LIVE_SESSIONS = Gauge(
    "tympan_live_sessions",
    "Live sessions open (Realtime WebSocket, Wyoming, SDK).",
    registry=None,
    multiprocess_mode="livesum",
)

_METRICS = (
    REQUESTS,
    REQUEST_SECONDS,
    AUDIO_SECONDS,
    INFERENCE_SECONDS,
    ASR_AUDIO_SECONDS,
    BATCH_SIZE,
    QUEUE_DEPTH,
    QUEUE_REFUSALS,
    MODEL_LOADS,
    MODEL_UNLOADS,
    MODEL_LOAD_SECONDS,
    LIVE_SESSIONS,
    DATABASE_ERRORS,
)

request_scope: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "tympan_request_scope", default=None
)
"""The ASGI scope of the request being served (set by the metrics middleware); routing adds the
matched route to it in place, so code deep in a request can label by route template."""


def current_route() -> str:
    """The route template of the request being served (``unmatched`` outside routing)."""
    scope = request_scope.get()
    route = scope.get("route") if scope else None
    return getattr(route, "path", None) or "unmatched"


def observe_audio(seconds: float) -> None:
    """Count decoded upload audio against the current request's route."""
    AUDIO_SECONDS.labels(current_route()).inc(seconds)


@dataclass(frozen=True, slots=True)
class DriftSample:
    """One model's drift at scrape time: a classifier version's distance per statistic, or an
    ASR model's recent quality per statistic for one ``language``."""

    kind: Literal["classifier", "asr"]
    model: str
    language: str
    recent: int
    drifting: bool
    values: dict[str, float]


class ServiceCollector(Collector):
    """Gauges read at scrape time from one app's services: models, jobs and drift."""

    def __init__(
        self,
        models: Callable[[], Iterator[tuple[str, str, bool, int]]],
        jobs: Callable[[], dict[tuple[str, str], int]],
        drift: Callable[[], Iterable[DriftSample]],
    ) -> None:
        self._models = models
        self._jobs = jobs
        self._drift = drift

    def collect(self) -> Iterator[GaugeMetricFamily]:
        loaded = GaugeMetricFamily(
            "tympan_model_loaded", "1 when the model is in memory.", labels=["model", "task"]
        )
        memory = GaugeMetricFamily(
            "tympan_model_memory_bytes", "Memory held by a loaded model.", labels=["model", "task"]
        )
        for model, task, is_loaded, memory_bytes in self._models():
            loaded.add_metric([model, task], float(is_loaded))
            memory.add_metric([model, task], float(memory_bytes))
        jobs = GaugeMetricFamily("tympan_jobs", "Jobs by kind and state.", labels=["kind", "state"])
        for (kind, state), count in sorted(self._jobs().items()):
            jobs.add_metric([kind, state], float(count))
        yield from (loaded, memory, jobs)
        yield from self._drift_gauges()

    def _drift_gauges(self) -> Iterator[GaugeMetricFamily]:
        drifting = GaugeMetricFamily(
            "tympan_drifting",
            "1 when a model's recent inputs drifted (language is empty for classifiers).",
            labels=["model", "language"],
        )
        recent = GaugeMetricFamily(
            "tympan_drift_recent_inputs",
            "Recent inputs drift is measured on.",
            labels=["model", "language"],
        )
        distance = GaugeMetricFamily(
            "tympan_classifier_drift_distance",
            "Distance of a classifier version's recent clips from its validation clips "
            "(Kolmogorov-Smirnov D; total variation for the predicted label).",
            labels=["model", "statistic"],
        )
        quality = GaugeMetricFamily(
            "tympan_asr_recent_quality",
            "An ASR model's recent windows: mean avg_logprob, no_speech_prob, "
            "compression_ratio, and the share failing Whisper's checks.",
            labels=["model", "language", "statistic"],
        )
        for sample in self._drift():
            drifting.add_metric([sample.model, sample.language], float(sample.drifting))
            recent.add_metric([sample.model, sample.language], float(sample.recent))
            for statistic, value in sample.values.items():
                if sample.kind == "classifier":
                    distance.add_metric([sample.model, statistic], value)
                else:
                    quality.add_metric([sample.model, sample.language, statistic], value)
        yield from (drifting, recent, distance, quality)


def app_registry(collector: Collector) -> CollectorRegistry:
    """The registry one app exposes: the shared metrics (or, in multiprocess mode, every
    process's copy of them) plus ``collector``'s gauges of this app's state."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in _METRICS:
            registry.register(metric)
    registry.register(collector)
    return registry
