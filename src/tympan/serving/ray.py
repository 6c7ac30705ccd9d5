"""``RayModels``: ASR, speaker-embedding, speech, enhancement and voice-activity models as Ray
Serve deployments, called through the ``ModelManager``.

Layer: serving (above tasks and models; built by ``api/services.py`` only when
``TYMPAN_RAY_ADDRESS`` is set, so the embedded path never imports Ray).

The FastAPI app stays the one HTTP front, and its per-model ``BatchQueue`` still gathers chunks
from every request into batches. What changes is where a batch runs: ``ModelManager.infer``
hands ``fn(handle, *args)`` (``decode_chunks``, ``detect_language``, ...) to a replica of the
model's deployment, which loaded the model with the registry's own loader (``load_whisper``)
and runs the very same function. One deployment per model, ``tympan-<task>-<model id>``
(``tympan-asr-whisper-tiny.en``, ``tympan-speaker-resemblyzer-ge2e``), deployed on first use.
Speaker embeddings (verify, identify, enroll, live speaker labels, and diarization's windows
through ``ReplicaEncoder``), speech, enhancement and whole-file voice activity
(``/v1/audio/vad``, transcription's chunking, detection) go to their replicas the same way.

Several API fronts (behind one load balancer) share a cluster's applications: a front that
finds a model's application running takes a handle to it instead of deploying it again (a second
``serve.run`` would restart its replicas and reload the model), and the last front to stop
deletes it. A named, detached ``FrontRegistry`` actor keeps that count, since no front can see
the others.

Batching happens once, in the app: the replicas do not use ``@serve.batch``. A second batcher
in the replica would wait again for company the app's queue already gathered, and could only
merge batches that the app chose to send apart (to keep every replica busy). Instead the queue
allows two batches per replica (``parallel_calls``): one decoding, and the next. Each replica
takes one call at a time (``max_ongoing_requests=1``: a batch uses every thread it has), and
the router spreads the calls and scales on those waiting. The next batch leaves at once while
a replica is free; once every replica has one, it keeps gathering until it is full or a
running batch ends (``BatchQueue``'s ``eager``). Sent at once, it held 2.7 chunks on average
against embedded's 4.0 at 8 clients, and the replica spent 7 % more CPU a request decoding
them; gathering, 3.8 chunks, while the round trip it then waits out is about 10 ms
(``benchmarks/bench_scale.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import ray
from ray import serve
from ray.exceptions import RayActorError, RayError, RayTaskError

from tympan.config import Settings
from tympan.errors import ModelNotFound, ReplicasUnavailable
from tympan.models.registry import ModelRegistry
from tympan.models.spec import ModelSpec
from tympan.tasks.enhancement import ENHANCEMENT_TASK
from tympan.tasks.speakers import SPEAKER_TASK
from tympan.tasks.tts import TTS_TASK
from tympan.tasks.vad import VAD_TASK

__all__ = [
    "APP_PREFIX",
    "FrontRegistry",
    "ModelReplica",
    "RayModels",
    "RayUnavailable",
    "app_name",
    "check_address",
    "count_running",
    "local_cpus",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

APP_PREFIX = "tympan-"
_CONNECT_TIMEOUT = 5.0
_REGISTRY = {"name": "tympan-fronts", "namespace": "tympan"}
_DELETE_WAIT = 120.0  # a front that died while deleting blocks its application no longer
_DEPLOY_POLL = 0.5  # seconds between looks at a deploying application's status
_LOST_REPLICA_TRIES = 3  # calls of one request's batch on replicas that die under it
_WATCH_PERIOD = 2.0  # seconds between looks at a waiting call's deployment


class RayUnavailable(RuntimeError):
    """The Ray cluster named by TYMPAN_RAY_ADDRESS cannot be reached or used (at start)."""


@serve.deployment(max_ongoing_requests=1)
class ModelReplica:
    """One replica of one model: loaded once with the registry's loader, then it runs whatever
    task function the app sends it over the loaded handle."""

    def __init__(self, spec: ModelSpec, settings: Settings) -> None:
        # The replica's own loader, with the replica's threads; a model published at run
        # time (fine-tuned) is not in it, and loads with the front's loader.
        with contextlib.suppress(ModelNotFound):
            spec = ModelRegistry.from_settings(settings).get(spec.id)
        self.model_id = spec.id
        self.handle = spec.load()
        log.info("replica of %s loaded", spec.id)

    def infer(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        return fn(self.handle, *args, **kwargs)


@ray.remote(num_cpus=0)
class FrontRegistry:
    """Which API fronts use each Tympan Serve application, so the last one to leave deletes
    it, and no front adopts an application another is deleting. One per cluster (named,
    detached); its methods run one at a time, so join and leave never interleave."""

    def __init__(self) -> None:
        self._fronts: dict[str, set[str]] = {}
        self._deleting: dict[str, float] = {}

    def join(self, app: str, front: str) -> bool:
        """Count ``front`` in; False while the last front is still deleting ``app`` (retry)."""
        started = self._deleting.get(app)
        if started is not None and time.monotonic() - started < _DELETE_WAIT:
            return False
        self._deleting.pop(app, None)
        self._fronts.setdefault(app, set()).add(front)
        return True

    def leave(self, app: str, front: str) -> bool:
        """Count ``front`` out; True when it was the last, which must then delete ``app`` and
        call ``deleted``."""
        fronts = self._fronts.get(app, set())
        fronts.discard(front)
        if fronts:
            return False
        self._fronts.pop(app, None)
        self._deleting[app] = time.monotonic()
        return True

    def deleted(self, app: str) -> None:
        self._deleting.pop(app, None)


class RayModels:
    """The models this process serves on Ray: one Serve application per model."""

    def __init__(self, settings: Settings, *, owns_ray: bool) -> None:
        self.settings = settings
        self._owns_ray = owns_ray
        self._handles: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._deploy_lock = threading.Lock()
        self._replicas_seen: dict[str, tuple[float, int]] = {}  # app -> (when, running)
        self._vacant_since: dict[str, float] = {}  # app -> since when no replica runs
        self._front = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._registry = FrontRegistry.options(
            **_REGISTRY, lifetime="detached", get_if_exists=True
        ).remote()

    @classmethod
    def connect(cls, settings: Settings) -> RayModels:
        """Join (or, for ``local``, start) the Ray cluster of ``settings.ray_address`` and start
        Serve on it without its HTTP proxy (the app is the HTTP front).

        ``RayUnavailable`` naming the setting when the address cannot be reached."""
        address = settings.ray_address.strip()
        check_address(address)
        owns_ray = False
        if not ray.is_initialized():  # else join the Ray this process already runs (tests)
            if address == "local":
                ray.init(
                    num_cpus=local_cpus(settings),
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    log_to_driver=False,
                )
            else:
                try:
                    ray.init(address=address, log_to_driver=False)
                except (ConnectionError, RayError, ValueError) as exc:
                    raise RayUnavailable(
                        f"Cannot join the Ray cluster at {address!r} (TYMPAN_RAY_ADDRESS): "
                        f"{exc}. A cluster started with `ray start` uses token authentication "
                        "when its head has a token: give this process RAY_AUTH_MODE=token and "
                        "the head's token (RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)."
                    ) from exc
            owns_ray = True
        serve.start(proxy_location="Disabled")
        log.info("serving ASR models on Ray (%s)", address)
        return cls(settings, owns_ray=owns_ray)

    # -- RemoteModels -------------------------------------------------------------------

    def serves(self, spec: ModelSpec) -> bool:
        return spec.task in _FAMILIES

    def parallel_calls(self, model_id: str) -> int:
        return 2 * max(self.settings.ray_asr_replicas, self.settings.ray_asr_max_replicas)

    async def infer(self, spec: ModelSpec, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(model, *args, **kwargs)`` on a replica. A replica lost mid-call (its process
        or its node died) costs the call one more try on another replica, or on the one Serve
        starts in its place: the task functions only compute, so running one twice is safe."""
        handle = await self._handle(spec)
        for attempt in range(1, _LOST_REPLICA_TRIES + 1):
            try:
                return await self._answer(spec, handle.infer.remote(fn, args, kwargs))
            except RayTaskError as exc:  # the task function's own error, as if it ran here
                cause = exc.cause
                raise (cause if isinstance(cause, BaseException) else exc) from None
            except RayActorError as exc:
                log.warning("a replica of %s was lost mid-call (try %d): %s", spec.id, attempt, exc)
                lost = exc
        raise ReplicasUnavailable(
            f"{_LOST_REPLICA_TRIES} replicas of {spec.id} were lost in turn while answering "
            f"(their processes or nodes died: {lost}); Ray Serve replaces them, try again.",
            retry_after=30,
        ) from lost

    async def _answer(self, spec: ModelSpec, response: Any) -> Any:
        """What a Serve call answers, unless the model has no running replica for
        TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS: then a 503. Serve holds a call until a replica
        takes it, and the replacement of a replica lost with its node waits for CPUs that may
        never come back (the survivors' nodes are full), so without this bound the request
        would hang. A call a running replica holds is never cut short, however long. The
        vacancy is the model's, not the call's: once it has lasted the timeout, a new call
        gets its 503 at its first look instead of waiting the timeout again."""
        name = app_name(spec)
        answer = asyncio.ensure_future(response)
        try:
            while True:
                done, _ = await asyncio.wait({answer}, timeout=_WATCH_PERIOD)
                if done:
                    if answer.exception() is None:  # a replica answered
                        self._vacant_since.pop(name, None)
                    return answer.result()
                if await self._running_replicas(name):
                    self._vacant_since.pop(name, None)
                    continue
                vacant_since = self._vacant_since.setdefault(name, time.monotonic())
                if time.monotonic() - vacant_since > self.settings.ray_deploy_timeout_seconds:
                    raise await asyncio.to_thread(
                        self._shortage,
                        spec,
                        f"No replica of {spec.id} has been running for "
                        f"{self.settings.ray_deploy_timeout_seconds:g} s "
                        "(TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS): its replicas were lost (a node "
                        "or their processes died) and Ray has not placed their replacements, "
                        "which Serve keeps trying to do",
                    )
        finally:
            if not answer.done():
                response.cancel()
                answer.cancel()
                # Serve's cancelled call ends with an error nobody awaits any more.
                answer.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _running_replicas(self, name: str) -> int:
        """How many replicas of application ``name`` run, asked of Serve at most once a
        half watch period however many calls wait on it (each look is a controller call)."""
        seen = self._replicas_seen.get(name)
        if seen is not None and time.monotonic() - seen[0] < _WATCH_PERIOD / 2:
            return seen[1]
        running = await asyncio.to_thread(count_running, name)
        self._replicas_seen[name] = (time.monotonic(), running)
        return running

    def close(self) -> None:
        """Delete the applications this process deployed; stop Ray if this process started
        or joined it (a Ray this process already ran before is left to its owner)."""
        if not ray.is_initialized():
            return
        for name in list(self._handles):
            if not ray.get(self._registry.leave.remote(name, self._front)):
                continue  # another front still serves it
            try:
                serve.delete(name)
            except Exception:
                log.exception("could not delete the Ray Serve application %s", name)
            finally:
                ray.get(self._registry.deleted.remote(name))
        self._handles.clear()
        if self._owns_ray:
            if self.settings.ray_address.strip() == "local":
                serve.shutdown()
            ray.shutdown()

    # -- deployments --------------------------------------------------------------------

    async def _handle(self, spec: ModelSpec) -> Any:
        name = app_name(spec)
        handle = self._handles.get(name)
        if handle is not None:
            return handle
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self._handles:
                self._handles[name] = await asyncio.to_thread(self._deploy, spec)
        return self._handles[name]

    def _abandon(self, spec: ModelSpec) -> ReplicasUnavailable:
        """Delete an application whose replicas did not come up in time (unless another
        front still waits for it) and say what the cluster had."""
        name = app_name(spec)
        replicas, _, _ = _FAMILIES[spec.task](self.settings)
        shortage = self._shortage(
            spec,
            f"Ray did not have {replicas} replica(s) of {spec.id} running within "
            f"{self.settings.ray_deploy_timeout_seconds:g} s (TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS)",
        )
        if ray.get(self._registry.leave.remote(name, self._front)):  # else others still wait
            try:
                serve.delete(name)
            finally:
                ray.get(self._registry.deleted.remote(name))
        return shortage

    def _shortage(self, spec: ModelSpec, what: str) -> ReplicasUnavailable:
        """A 503 saying ``what`` was missing, with the CPUs the replicas reserve, the
        cluster's CPUs, the settings that change either, and Serve's own account."""
        _, _, cpus = _FAMILIES[spec.task](self.settings)
        status = serve.status().applications.get(app_name(spec))
        detail = " ".join(d.message for d in status.deployments.values()) if status else ""
        free = ray.available_resources().get("CPU", 0.0)
        total = ray.cluster_resources().get("CPU", 0.0)
        return ReplicasUnavailable(
            f"{what}. Each replica reserves {cpus:g} CPU; the cluster has {total:g} CPUs, "
            f"{free:g} free. If CPUs are missing, lower TYMPAN_RAY_{spec.task.upper()}_REPLICA_"
            "CPUS or _REPLICAS, give a local Ray more (TYMPAN_RAY_NUM_CPUS) or add a machine; "
            f"if the model loads slowly, raise the timeout. {detail}".strip(),
            retry_after=30,
        )

    def _deploy(self, spec: ModelSpec) -> Any:
        """A handle to the model's application: the running one another front deployed, or a
        new one (the front counts itself in first, so no front deletes it under this one)."""
        model_id = spec.id
        name = app_name(spec)
        while not ray.get(self._registry.join.remote(name, self._front)):
            time.sleep(0.5)
        running = serve.status().applications.get(name)
        if running is not None and running.status in ("RUNNING", "DEPLOYING"):
            log.info("serving %s with the Ray Serve application another front deployed", model_id)
            return serve.get_app_handle(name)
        settings = self.settings
        replicas, max_replicas, cpus = _FAMILIES[spec.task](settings)
        replica_settings = settings.model_copy(
            update={"cpu_threads": max(1, round(cpus)), "ray_address": ""}
        )
        options: dict[str, Any] = {"name": "model", "ray_actor_options": {"num_cpus": cpus}}
        if max_replicas > replicas:
            options["autoscaling_config"] = {
                "min_replicas": replicas,
                "max_replicas": max_replicas,
                "target_ongoing_requests": 1,
                "upscale_delay_s": settings.ray_upscale_delay_seconds,
                "downscale_delay_s": settings.ray_downscale_delay_seconds,
            }
        else:
            options["num_replicas"] = replicas
        application = ModelReplica.options(**options).bind(spec, replica_settings)
        with self._deploy_lock:
            log.info("deploying %s on Ray Serve", model_id)
            # ``serve.run`` waits for the replicas with no time limit (forever, when the
            # cluster lacks the CPUs they reserve); Serve's own non-blocking deploy, pinned
            # with Ray 2.60, lets this wait end at TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS.
            handle = serve._run(application, _blocking=False, name=name, route_prefix=None)
        deadline = time.monotonic() + settings.ray_deploy_timeout_seconds
        while (status := serve.status().applications.get(name)) is None or (
            status.status != "RUNNING"
        ):
            if status is not None and status.status == "DEPLOY_FAILED":
                raise RuntimeError(f"Deploying {model_id} on Ray Serve failed: {status.message}")
            if time.monotonic() > deadline:
                raise self._abandon(spec)
            time.sleep(_DEPLOY_POLL)
        return handle


def count_running(name: str) -> int:
    """How many replicas of the Serve application ``name`` are running (0 when it is gone)."""
    status = serve.status().applications.get(name)
    if status is None:
        return 0
    return sum(d.replica_states.get("RUNNING", 0) for d in status.deployments.values())


def app_name(spec: ModelSpec) -> str:
    """The Serve application of a model: ``tympan-<task>-<model id>``."""
    return f"{APP_PREFIX}{spec.task}-{spec.id}"


_FAMILIES: dict[str, Callable[[Settings], tuple[int, int, float]]] = {
    "asr": lambda s: (s.ray_asr_replicas, s.ray_asr_max_replicas, s.ray_asr_replica_cpus),
    SPEAKER_TASK: lambda s: (
        s.ray_speaker_replicas,
        s.ray_speaker_max_replicas,
        s.ray_speaker_replica_cpus,
    ),
    TTS_TASK: lambda s: (s.ray_tts_replicas, s.ray_tts_max_replicas, s.ray_tts_replica_cpus),
    VAD_TASK: lambda s: (s.ray_vad_replicas, s.ray_vad_max_replicas, s.ray_vad_replica_cpus),
    ENHANCEMENT_TASK: lambda s: (
        s.ray_enhancement_replicas,
        s.ray_enhancement_max_replicas,
        s.ray_enhancement_replica_cpus,
    ),
}
"""The model families served by replicas, each with its (replicas, autoscaling maximum or 0,
CPUs per replica) settings. Speech renders one chunk per call (its stream's state stays in the
app, ``api/streaming.speech_chunks``). Voice activity of whole files goes to replicas (one call
a file); the live engine's frame-by-frame VAD (32 ms a call, its recurrent state between calls)
and diarization's lease keep a local copy. Enhancement goes to replicas as whole recordings
(``noise_reduction`` before a task: ``enhance_audio``) or as parts of one
(``/v1/audio/enhancements``: ``enhance_part``, the stream's position and encoder in the app)."""


def local_cpus(settings: Settings) -> int:
    """The CPUs a ``local`` Ray offers: ``ray_num_cpus``, else every core, or one replica of
    each family plus a training task where that is more. Ray's CPUs are reservations; on one
    machine every replica shares the same cores either way, and a family that did not fit
    would wait forever for its first replica."""
    if settings.ray_num_cpus:
        return settings.ray_num_cpus
    reserved = settings.ray_training_cpus
    for family in _FAMILIES.values():
        replicas, most, cpus = family(settings)
        reserved += max(replicas, most) * cpus
    return max(os.cpu_count() or 1, math.ceil(reserved))


def check_address(address: str) -> None:
    """Fail fast, naming the setting, when nothing listens at a ``host:port`` address (Ray
    itself retries for a minute or more before giving up)."""
    if address in ("auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise RayUnavailable(
            f"TYMPAN_RAY_ADDRESS={address!r} is not a Ray address: use `local`, `host:port` "
            "(the head's GCS, default port 6379) or `ray://host:10001`."
        )
    try:
        socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise RayUnavailable(
            f"No Ray cluster answers at {host}:{port} (TYMPAN_RAY_ADDRESS={address!r}): {exc}. "
            "Start one with `ray start --head`, or unset the setting to serve embedded."
        ) from exc
