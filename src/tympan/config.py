"""Settings: every knob of the service, read from ``TYMPAN_*`` environment variables.

The field descriptions are the configuration reference; ``tympan config`` prints them and the
README table is generated from them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from fsspec.core import split_protocol
from fsspec.implementations.local import LocalFileSystem
from fsspec.registry import get_filesystem_class
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DEFAULT_NAMESPACE",
    "SAMPLE_RATE",
    "Settings",
    "settings_reference",
    "settings_reference_markdown",
    "unknown_variables",
]

SAMPLE_RATE = 16_000
"""Every ``Audio`` past the boundary is mono float32 at this rate."""

DEFAULT_NAMESPACE = "default"
"""The namespace of speakers and classifiers of plain API keys, and of a service without keys."""


_LOCAL_PROTOCOLS = (None, "file", "local")  # an artifact_url that is a folder here


class Settings(BaseSettings):
    """Tympan's configuration; override any field with ``TYMPAN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TYMPAN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".tympan"), description="Folder for the database and artifacts.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite (WAL) at DATA_DIR/tympan.db. "
        "PostgreSQL works too (postgresql+psycopg://...).",
    )
    artifact_url: str | None = Field(
        None,
        description="Where trained models, their reports and uploaded files are stored, shared "
        "by every server of one database: a folder or a `file://` URL (e.g. an NFS mount), or "
        "an object store (`s3://bucket/prefix`, any fsspec URL whose package is installed; "
        "then DATA_DIR/artifacts is each server's local copy); default DATA_DIR/artifacts.",
    )
    artifact_options: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="fsspec options of an object-store `artifact_url`, as `name=value,...` "
        "(e.g. `endpoint_url=http://minio:9000` for an S3-compatible server); credentials "
        "come from the store's usual environment (AWS_ACCESS_KEY_ID, ...).",
    )
    host: str = Field("127.0.0.1", description="Address `tympan serve` binds to.")
    port: int = Field(8000, description="Port `tympan serve` listens on.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer API keys, each `key[:scope][@namespace]`: scope "
        "`admin` (default), `read` (GET only) or `transcribe` (inference only); namespace "
        "(default `default`) holds the key's speakers and classifiers. Empty means no auth "
        "(loopback only). See docs/security.md.",
    )
    insecure: bool = Field(
        False,
        description="Serve a non-loopback address without API keys (anyone who reaches it can "
        "use it; `tympan serve --insecure`).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins (`https://app.example.com`) allowed to call "
        "the API; requests with any other Origin get 403 (same-origin ones always pass).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra Host header names accepted on connections to a loopback address "
        "(localhost, 127.0.0.1 and [::1] always are); others get 403 (DNS rebinding).",
    )
    dataset_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated server folders that training may read with `path=`; "
        "empty means server paths are refused (upload a zip instead).",
    )
    classifier_noise_dir: str = Field(
        "",
        description="A folder of background recordings (any audio format) that classifier "
        "training mixes into its augmented copies instead of synthetic noise; empty = synthetic "
        "noise (white to pink).",
    )
    max_upload_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest accepted upload, in bytes (413 above)."
    )
    max_dataset_files: int = Field(
        50_000, ge=1, description="Most files an uploaded dataset zip may hold (413 past it)."
    )
    max_dataset_bytes: int = Field(
        2 * 1024**3,
        ge=1,
        description="Most bytes an uploaded dataset zip may unpack to (413 past it; each member "
        "is also held to TYMPAN_MAX_UPLOAD_BYTES).",
    )
    max_zip_ratio: float = Field(
        200.0,
        gt=1,
        description="Highest compression ratio a dataset zip member may declare (a zip bomb's "
        "is in the thousands).",
    )
    adaptation_noise_dir: Path | None = Field(
        None,
        description="Folder of real background recordings (with a manifest.csv, like "
        '../shared/eval/noise) that ASR fine-tuning with `augment=["noise"]` mixes in at '
        "random SNR; unset refuses noise augmentation (400).",
    )
    corrections_batch: int = Field(
        50,
        ge=1,
        description="Stored ASR corrections of a model, not yet trained on, that start a "
        "fine-tuning job on their own (`POST /v1/audio/corrections`).",
    )
    correction_max_seconds: float = Field(
        30.0,
        gt=0,
        le=30.0,
        description="Longest audio of one ASR correction, in seconds (Whisper's window; 413 "
        "above).",
    )
    correction_max_chars: int = Field(
        1000, ge=1, description="Longest corrected text of one ASR correction (413 above)."
    )
    corrections_general_dir: Path | None = Field(
        None,
        description="Folder of general English clips (a manifest.csv with audio,text, like "
        "../shared/eval/asr_ljspeech) that a corrections job scores old and new versions on; "
        "unset, no new version is promoted.",
    )
    corrections_general_clips: int = Field(
        5, ge=1, description="How many clips of `corrections_general_dir` a corrections job scores."
    )
    max_audio_seconds: float = Field(
        9000.0,
        gt=0,
        description="Longest accepted audio, in seconds; enforced while decoding (413 above).",
    )
    max_request_files: int = Field(
        100, ge=1, description="Most files one request may upload (enrollment, examples; 400)."
    )
    max_request_audio_seconds: float = Field(
        1800.0,
        gt=0,
        description="Most seconds of audio all the files of one request may add up to "
        "(enrollment, samples, examples); enforced while decoding (413 above).",
    )
    max_feature_values: int = Field(
        16_000_000,
        gt=0,
        description="Most values (frames x dims) one /v1/audio/features answer may hold; checked "
        "before computing (413 above).",
    )
    max_detect_windows: int = Field(
        10_000,
        gt=0,
        description="Most classifier windows one detect request may score (413 above).",
    )
    max_diarization_seconds: float = Field(
        3600.0,
        gt=0,
        description="Longest audio one diarization (or diarize=true) request may cover (413).",
    )
    max_json_bytes: int = Field(
        2 * 1024 * 1024,
        gt=0,
        description="Largest JSON request body, in bytes; checked before parsing (413 above).",
    )
    max_glossary_words: int = Field(
        200,
        gt=0,
        description="Most entries in a model's stored glossary (413 above); Whisper reads "
        "about 220 tokens of it.",
    )
    max_midi_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest MIDI prompt, in bytes (413 above)."
    )
    max_midi_events: int = Field(
        200_000,
        gt=0,
        description="Most events (all tracks) of a MIDI prompt; counted before parsing (413).",
    )
    request_timeout_seconds: float = Field(
        3600.0,
        ge=0,
        description="Work of a request still running after this long stops (503); 0 = no limit. "
        "Work of a client that disconnected stops too.",
    )
    model_memory_budget_mb: int = Field(
        8192, gt=0, description="Loaded models are unloaded (LRU) to stay within this budget."
    )
    model_idle_ttl_seconds: float = Field(
        1800.0, gt=0, description="A model unused this long is unloaded."
    )
    inference_threads: int = Field(
        2, ge=1, description="Worker threads that run inference (the bounded executor)."
    )
    drift_window: int = Field(
        500,
        ge=10,
        description="Recent inputs per model (classifier version; ASR model and language) "
        "that drift is measured on, kept in memory by each process.",
    )
    drift_min_samples: int = Field(
        50, ge=5, description="Recent inputs a model needs before drift is judged."
    )
    drift_threshold: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Distance (Kolmogorov-Smirnov D, or total variation for the predicted "
        "class) at which a classifier statistic drifts (p < 0.01 too).",
    )
    asr_drift_failing_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Share of recent ASR windows failing Whisper's own checks (average "
        "log-probability under -1, compression ratio over 2.4) at which a model and language "
        "drift.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Also serve /metrics without a key on this port of 127.0.0.1 (Prometheus).",
    )
    otlp_endpoint: str = Field(
        "",
        description="Send OpenTelemetry traces (a span per request and per stage) over OTLP/HTTP "
        "to this collector, e.g. `http://127.0.0.1:4318` (spans go to its `/v1/traces`); empty "
        "= tracing off. See docs/monitoring.md.",
    )
    otlp_service_name: str = Field(
        "tympan", description="`service.name` of the traces (one per deployment or replica set)."
    )
    inference_queue_size: int = Field(
        64, ge=1, description="Requests allowed to wait for a worker before 503 Overloaded."
    )
    cpu_threads: int = Field(
        0, ge=0, description="Threads each model may use inside its runtime; 0 = all cores."
    )
    job_lease_seconds: float = Field(
        60.0,
        gt=0,
        description="Lease of a running job (and of a version being published): its process "
        "renews it every third of this; any process fails jobs whose lease lapsed (killed "
        "process) and reaps their half-published versions.",
    )
    default_vad_method: Literal["silero", "energy", "spectral", "fusion"] = Field(
        "fusion",
        description="VAD method used when none is given (fusion measured most accurate: "
        "benchmarks/bench_vad.py).",
    )
    speaker_onnx_models: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated paths of extra ONNX speaker-embedding models, served as "
        "`onnx-<file stem>` (see docs/speakers.md for the inputs they may take).",
    )
    default_speaker_model: str | None = Field(
        None,
        description="Speaker model used when a request names none; default the bundled one "
        "with the lowest measured EER (resemblyzer-ge2e).",
    )
    asr_models: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description="Extra CTranslate2 Whisper model folders served for ASR, as "
        "`id=/path,id2=/path2` (tiny to large-v3); each id is listed by /v1/models.",
    )
    openai_asr_models: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: dict.fromkeys(
            (
                "whisper-1",
                "gpt-4o-transcribe",
                "gpt-4o-mini-transcribe",
                "gpt-transcribe",
                "gpt-4o-transcribe-diarize",
            ),
            "auto",
        ),
        description="OpenAI transcription model names (dated variants included) and what "
        "serves them, as `name=target,...`: a model id, or `auto` (language ID, then tiny.en "
        "for English and whisper-base otherwise).",
    )
    asr_batch_size: int = Field(
        8, ge=1, le=64, description="Most 30 s chunks one ASR model decodes in one batch."
    )
    asr_workers: int = Field(
        0,
        ge=0,
        description="Parts of a batch each ASR model decodes side by side, sharing "
        "`cpu_threads` between them; 0 = one per thread (fastest measured on small models).",
    )
    asr_queue_size: int = Field(
        16,
        ge=1,
        description="Requests each ASR model's batching queue admits at once; more get 503 "
        "Overloaded (Retry-After).",
    )
    asr_batch_wait_ms: float = Field(
        5.0,
        ge=0,
        le=1000,
        description="How long an idle ASR queue waits for more chunks before decoding a batch.",
    )
    ray_address: str = Field(
        "",
        description="Serve ASR, speaker-embedding and text-to-speech models as Ray Serve "
        "deployments, and run training as Ray tasks (`tympan serve --ray`): empty = "
        "embedded, every model in this process; `local` = start Ray on this machine (or join "
        "the Ray this process already runs); `host:6379` or `ray://host:10001` = join a "
        "cluster started with `ray start --head`. See docs/scaling.md.",
    )
    ray_num_cpus: int = Field(
        0,
        ge=0,
        description="CPUs a `local` Ray instance offers its replicas; 0 = every core, or one "
        "replica of each model family plus a training task if that is more (Ray's CPUs are "
        "reservations: on one machine the replicas share its cores either way).",
    )
    ray_deploy_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="How long a request waits for Ray to place a model's replicas: at the "
        "model's first use, or after every replica was lost (a node or process died); past it "
        "the request gets a 503 naming the CPUs that were missing (and, until a replica runs "
        "again, so do later requests, without waiting again).",
    )
    ray_asr_replicas: int = Field(
        1,
        ge=1,
        description="Replicas of each ASR model's Ray Serve deployment (the minimum "
        "when autoscaling).",
    )
    ray_asr_max_replicas: int = Field(
        0,
        ge=0,
        description="Above `ray_asr_replicas`, Ray Serve autoscales each ASR deployment up to "
        "this many replicas on queued batches; 0 = a fixed count.",
    )
    ray_upscale_delay_seconds: float = Field(
        30.0,
        ge=0,
        description="With autoscaling on for a model family (its `ray_*_max_replicas`), how "
        "long calls must queue before Ray Serve adds a replica (its `upscale_delay_s`).",
    )
    ray_downscale_delay_seconds: float = Field(
        600.0,
        ge=0,
        description="With autoscaling on, how long replicas must stand idle before Ray Serve "
        "removes one, down to the family's `ray_*_replicas` (its `downscale_delay_s`).",
    )
    ray_asr_replica_cpus: int = Field(
        1,
        ge=1,
        description="CPUs Ray reserves for each ASR replica, which are the CTranslate2 "
        "threads it decodes with.",
    )
    ray_speaker_replicas: int = Field(
        1, ge=1, description="Replicas of each speaker-embedding model's Ray Serve deployment."
    )
    ray_speaker_max_replicas: int = Field(
        0,
        ge=0,
        description="Above `ray_speaker_replicas`, Ray Serve autoscales each speaker-embedding "
        "deployment up to this many replicas on waiting calls; 0 = a fixed count.",
    )
    ray_speaker_replica_cpus: float = Field(
        1.0,
        gt=0,
        description="CPUs Ray reserves for each speaker-embedding replica (a fraction shares a "
        "core: the encoders are small); its onnxruntime threads, rounded, at least 1.",
    )
    ray_tts_replicas: int = Field(
        1, ge=1, description="Replicas of each text-to-speech voice's Ray Serve deployment."
    )
    ray_tts_max_replicas: int = Field(
        0,
        ge=0,
        description="Above `ray_tts_replicas`, Ray Serve autoscales each text-to-speech "
        "deployment up to this many replicas on waiting calls; 0 = a fixed count.",
    )
    ray_tts_replica_cpus: float = Field(
        1.0,
        gt=0,
        description="CPUs Ray reserves for each text-to-speech replica; its onnxruntime "
        "threads, rounded, at least 1.",
    )
    ray_vad_replicas: int = Field(
        1, ge=1, description="Replicas of the voice-activity model's Ray Serve deployment."
    )
    ray_vad_max_replicas: int = Field(
        0,
        ge=0,
        description="Above `ray_vad_replicas`, Ray Serve autoscales each voice-activity "
        "deployment up to this many replicas on waiting calls; 0 = a fixed count.",
    )
    ray_vad_replica_cpus: float = Field(
        0.5,
        gt=0,
        description="CPUs Ray reserves for each voice-activity replica (Silero is small: a "
        "fraction shares a core); its onnxruntime threads, rounded, at least 1.",
    )
    ray_enhancement_replicas: int = Field(
        1, ge=1, description="Replicas of each speech enhancer's Ray Serve deployment."
    )
    ray_enhancement_max_replicas: int = Field(
        0,
        ge=0,
        description="Above `ray_enhancement_replicas`, Ray Serve autoscales each enhancement "
        "deployment up to this many replicas on waiting calls; 0 = a fixed count.",
    )
    ray_enhancement_replica_cpus: float = Field(
        1.0,
        gt=0,
        description="CPUs Ray reserves for each enhancement replica; the threads it enhances "
        "a recording's parts on, rounded, at least 1.",
    )
    ray_training_cpus: int = Field(
        1,
        ge=1,
        description="With Ray on, classifier, music and fine-tuning training run as Ray "
        "tasks: the CPUs Ray reserves for each (and the threads it trains with).",
    )
    music_soundfont: Path = Field(
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        description="General MIDI SoundFont FluidSynth renders music with (Debian "
        "fluid-soundfont-gm).",
    )
    music_max_bars: int = Field(256, ge=1, description="Most bars one music request may ask for.")
    music_max_seconds: float = Field(
        600.0, gt=0, description="Longest piece (prompt + continuation) a music request may make."
    )
    music_train_seconds: float = Field(
        180.0,
        gt=0,
        description="Training time budget of each music network (corpus parsing comes on top).",
    )
    music_corpus_limit: int = Field(
        2000, ge=4, description="Most corpus pieces per style that music training parses."
    )
    music_first_pieces: int = Field(
        120,
        ge=0,
        description="Corpus pieces of the quick first model a fresh install trains before the "
        "full one, so the first music request is answered within a minute (0: no quick model).",
    )
    music_first_seconds: float = Field(
        10.0, gt=0, description="Training time budget of that quick first music model."
    )
    music_model_size: Literal["small", "tiny"] = Field(
        "small", description="Size of trained music networks: `small`, or `tiny` for tests."
    )
    tts_max_input_chars: int = Field(
        4096, gt=0, description="Longest text /v1/audio/speech accepts, in characters (413 above)."
    )
    tts_voices: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description="Extra Piper voices as `name=/path/voice.onnx,name2=/path2.onnx` (each "
        ".onnx.json beside its .onnx); each is served as model piper-<name> and voice <name>.",
    )
    tts_voice_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Voice aliases as `alloy=name,nova=name2`; OpenAI voice names not mapped "
        "speak with the requested model's own voice.",
    )
    noise_reduction: str = Field(
        "none",
        description="`noise_reduction` of a request that gives none: none, auto (each task "
        "family's measured rule), near_field, far_field or an enhancement model id (see "
        "docs/enhancement.md for the measurements).",
    )

    realtime_max_sessions: int = Field(
        32, ge=1, description="Most live sessions (Realtime WebSocket and Wyoming) at once."
    )
    realtime_max_session_seconds: float = Field(
        3600.0, gt=0, description="Longest a live session may stay open, in seconds."
    )
    realtime_max_buffer_seconds: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Most audio a live session may hold before it is transcribed (uncommitted "
        "plus waiting for the model), in seconds; appends beyond it are refused.",
    )
    realtime_partial_interval_ms: int = Field(
        1000,
        ge=100,
        description="How often the open turn of a live session is re-decoded for delta events "
        "(at most; twice as often until the turn's first words are out; under load the "
        "sessions share a budget and preview less often).",
    )
    wyoming_uri: str | None = Field(
        None,
        description="Also serve the Wyoming protocol (Home Assistant) at this URI, e.g. "
        "`tcp://0.0.0.0:10300`.",
    )

    @field_validator(
        "api_keys",
        "speaker_onnx_models",
        "cors_origins",
        "allowed_hosts",
        "dataset_roots",
        mode="before",
    )
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator(
        "asr_models",
        "openai_asr_models",
        "tts_voices",
        "tts_voice_map",
        "artifact_options",
        mode="before",
    )
    @classmethod
    def _split_models(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep or not name.strip() for name, sep, _ in pairs):
                raise ValueError(f"{info.field_name} must read name=value,name2=value2")
            return {name.strip(): path.strip() for name, _, path in pairs}
        return value

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_otlp_endpoint(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(
                "TYMPAN_OTLP_ENDPOINT must be an http:// or https:// URL (OTLP over HTTP), "
                "such as http://127.0.0.1:4318"
            )
        return value

    @field_validator("classifier_noise_dir")
    @classmethod
    def _noise_folder(cls, value: str) -> str:
        if value.strip() and not Path(value).expanduser().is_dir():
            raise ValueError(f"TYMPAN_CLASSIFIER_NOISE_DIR: {value!r} is not a folder")
        return value.strip()

    @field_validator("artifact_url")
    @classmethod
    def _known_artifact_url(cls, value: str | None) -> str | None:
        protocol = None if value is None else split_protocol(value)[0]
        if protocol not in _LOCAL_PROTOCOLS:
            try:
                get_filesystem_class(protocol)
            except (ImportError, ValueError) as exc:
                raise ValueError(
                    f"TYMPAN_ARTIFACT_URL: {protocol}:// cannot be used: {exc}"
                ) from exc
        return value

    @property
    def shared_artifact_url(self) -> str | None:
        """The object-store URL of ``artifact_url`` (None for a folder or a local URL)."""
        url = self.artifact_url
        if url is None or split_protocol(url)[0] in _LOCAL_PROTOCOLS:
            return None
        return url

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in force (the SQLite default lives in ``data_dir``)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'tympan.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        """Where trained models, reports and other artifacts are stored (``artifact_url``), or
        this server's copy of them when they live in an object store."""
        if self.artifact_url is None or self.shared_artifact_url is not None:
            return self.data_dir / "artifacts"
        return Path(LocalFileSystem._strip_protocol(self.artifact_url))

    @property
    def models_dir(self) -> Path:
        """Where model files assembled or trained at run time live."""
        return self.data_dir / "models"

    @property
    def thread_budget(self) -> int:
        """The threads a model may use: ``cpu_threads``, or every core when it is 0."""
        return self.cpu_threads or os.cpu_count() or 1


def settings_reference() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, dict):
            shown = ",".join(f"{key}={value}" for key, value in default.items())
        else:
            shown = ",".join(default) if isinstance(default, list) else default
        rows.append((f"TYMPAN_{name.upper()}", str(shown), field.description or ""))
    return rows


def settings_reference_markdown() -> str:
    """The configuration reference as a markdown table (the README embeds this output)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{var}` | `{default}` | {text} |" for var, default, text in settings_reference()]
    return "\n".join(lines)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Warnings for ``TYMPAN_*`` variables in ``environ`` that name no setting (a typo, or a
    setting renamed since), each with the closest setting's name: ``Settings`` ignores them,
    so they would silently change nothing."""
    known = [variable for variable, _, _ in settings_reference()]
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("TYMPAN_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a Tympan setting and changes nothing{hint}.")
    return warnings
