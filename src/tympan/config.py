"""Settings: every knob of the service, read from ``TYMPAN_*`` environment variables.

The field descriptions are the configuration reference; ``tympan config`` prints them and the
README table is generated from them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["SAMPLE_RATE", "Settings"]

SAMPLE_RATE = 16_000
"""Every ``Audio`` past the boundary is mono float32 at this rate."""


class Settings(BaseSettings):
    """Tympan's configuration; override any field with ``TYMPAN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TYMPAN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".tympan"), description="Folder for the database and artifacts.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite (WAL) at DATA_DIR/tympan.db. "
        "PostgreSQL works too (postgresql+psycopg://...).",
    )
    host: str = Field("127.0.0.1", description="Address `tympan serve` binds to.")
    port: int = Field(8000, description="Port `tympan serve` listens on.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer API keys; empty means no auth (loopback only).",
    )
    max_upload_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest accepted upload, in bytes (413 above)."
    )
    max_audio_seconds: float = Field(
        9000.0,
        gt=0,
        description="Longest accepted audio, in seconds; enforced while decoding (413 above).",
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
    inference_queue_size: int = Field(
        64, ge=1, description="Requests allowed to wait for a worker before 503 Overloaded."
    )
    cpu_threads: int = Field(
        0, ge=0, description="Threads each model may use inside its runtime; 0 = all cores."
    )
    default_vad_method: str = Field("silero", description="VAD method used when none is given.")
    tts_max_input_chars: int = Field(
        4096, gt=0, description="Longest text /v1/audio/speech accepts, in characters (413 above)."
    )
    tts_voices: dict[str, Path] = Field(
        default_factory=dict,
        description='Extra Piper voices as JSON {"name": "/path/voice.onnx"} (the .onnx.json '
        "beside it); each is served as model piper-<name> and voice <name>.",
    )
    tts_voice_map: dict[str, str] = Field(
        default_factory=dict,
        description='Voice aliases as JSON {"alloy": "name"}; OpenAI voice names not mapped '
        "speak with the requested model's own voice.",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in force (the SQLite default lives in ``data_dir``)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'tympan.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        """Where trained models, reports and other artifacts are stored."""
        return self.data_dir / "artifacts"

    @property
    def models_dir(self) -> Path:
        """Where model files assembled or trained at run time live."""
        return self.data_dir / "models"
