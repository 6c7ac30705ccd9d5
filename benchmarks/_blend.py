"""Dry/wet blending: an enhancer's output with some of the noisy input mixed back in.

A variant ``bench_enhancement_asr`` measures, not a served enhancer: on the dev and test noises
it did not lower WER reliably (docs/enhancement.md), so the product does not ship it.

Whisper was trained on noisy audio; what hurts it after enhancement is the enhancer's
artifacts (speech suppressed with the noise, musical noise), not the noise left over. Mixing
a fraction of the untouched input back in hides those artifacts and caps how far the noise is
lowered (a dry share ``d`` leaves the noise at least ``20 log10(d)`` dB down), which is what
speech recognisers need from an enhancer (see docs/enhancement.md for the measurements).
"""

from __future__ import annotations

import numpy as np

from tympan.tasks.enhancement.session import Enhancer, EnhancerSession

__all__ = ["BlendedEnhancer", "blend"]


def blend(enhanced: np.ndarray, noisy: np.ndarray, dry: float) -> np.ndarray:
    """``(1 - dry) * enhanced + dry * noisy``, sample for sample (the same length)."""
    mixed = (1.0 - dry) * enhanced.astype(np.float32) + dry * noisy.astype(np.float32)
    return mixed.astype(np.float32)


class BlendedEnhancer:
    """``enhancer`` with a ``dry`` share (0-1) of each session's input blended into its
    output; enhancers keep their output in line with their input, so the blend is exact."""

    def __init__(self, enhancer: Enhancer, dry: float) -> None:
        if not 0.0 <= dry < 1.0:
            raise ValueError(f"a dry share is in [0, 1), not {dry}")
        self.enhancer = enhancer
        self.dry = dry
        self.threads = enhancer.threads

    def session(self) -> _BlendedSession:
        """A fresh stream through the wrapped enhancer, blended."""
        return _BlendedSession(self.enhancer.session(), self.dry)

    def close(self) -> None:
        """Release the wrapped enhancer (the model manager calls this on unload)."""
        close = getattr(self.enhancer, "close", None)
        if close is not None:
            close()


class _BlendedSession:
    def __init__(self, inner: EnhancerSession, dry: float) -> None:
        self._inner = inner
        self._dry = dry
        self._waiting = np.zeros(0, np.float32)  # input whose enhanced samples are not out yet

    def process(self, samples: np.ndarray) -> np.ndarray:
        self._waiting = np.concatenate([self._waiting, samples.astype(np.float32)])
        return self._blend(self._inner.process(samples))

    def finish(self) -> np.ndarray:
        return self._blend(self._inner.finish())

    def close(self) -> None:
        self._inner.close()

    def _blend(self, enhanced: np.ndarray) -> np.ndarray:
        count = enhanced.shape[0]
        noisy, self._waiting = self._waiting[:count], self._waiting[count:]
        return blend(enhanced, noisy, self._dry)
