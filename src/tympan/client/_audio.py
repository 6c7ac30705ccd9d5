"""SDK methods for audio features and voice activity detection."""

from __future__ import annotations

import io

import numpy as np

from tympan.audio.features import FeatureKind, FeatureOptions, Features
from tympan.client._base import BaseClient, FileInput
from tympan.config import SAMPLE_RATE
from tympan.tasks.vad import SpeechSegment, VadMethod, VadResult

_DEFAULTS = FeatureOptions()


class AudioMethods(BaseClient):
    """``/v1/audio/features`` and ``/v1/audio/vad``."""

    def features(
        self,
        file: FileInput,
        kind: FeatureKind = "log_mel",
        *,
        n_fft: int | None = None,
        hop_length: int | None = None,
        n_mels: int | None = None,
        n_mfcc: int | None = None,
        fmin: float | None = None,
        fmax: float | None = None,
        deltas: int | None = None,
    ) -> Features:
        """Frame features of ``file`` as a ``Features`` record (values: frames x dims)."""
        fields = {
            "kind": kind,
            "n_fft": n_fft,
            "hop_length": hop_length,
            "n_mels": n_mels,
            "n_mfcc": n_mfcc,
            "fmin": fmin,
            "fmax": fmax,
            "deltas": deltas,
            "format": "npy",
        }
        response = self.post_audio("/v1/audio/features", file, fields)
        values = np.load(io.BytesIO(response.content), allow_pickle=False)
        return Features(kind, values, SAMPLE_RATE, hop_length or _DEFAULTS.hop_length, deltas or 0)

    def vad(
        self,
        file: FileInput,
        method: VadMethod | None = None,
        *,
        threshold: float | None = None,
        neg_threshold: float | None = None,
        min_speech_ms: int | None = None,
        min_silence_ms: int | None = None,
        speech_pad_ms: int | None = None,
        noise_reduction: str | None = None,
    ) -> VadResult:
        """Speech segments of ``file``."""
        fields = {
            "method": method,
            "threshold": threshold,
            "neg_threshold": neg_threshold,
            "min_speech_ms": min_speech_ms,
            "min_silence_ms": min_silence_ms,
            "speech_pad_ms": speech_pad_ms,
            "noise_reduction": noise_reduction,
        }
        body = self.post_audio("/v1/audio/vad", file, fields).json()
        segments = [SpeechSegment(**segment) for segment in body.pop("segments")]
        return VadResult(segments=segments, **body)
