"""Speaking rate: OpenAI's ``speed`` as a tempo change at the same pitch (FFmpeg's ``atempo``).

Piper's own ``length_scale`` cannot honour the range: every phoneme and the pad between
phonemes keeps at least one 11.6 ms frame, so at ``length_scale`` 0.25 the joe voice is only
~1.9x faster, not 4x. Rendering at the voice's natural pace and then time-stretching gives
exactly ``1/speed`` of the duration over the whole 0.25-4.0 range, as OpenAI clients expect.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import av
import numpy as np

__all__ = ["change_tempo"]

_MIN_ATEMPO = 0.5  # one atempo instance slows down at most 2x; chain them below that


def _factors(speed: float) -> list[float]:
    factors = []
    while speed < _MIN_ATEMPO:
        factors.append(_MIN_ATEMPO)
        speed /= _MIN_ATEMPO
    return [*factors, speed]


def change_tempo(samples: np.ndarray, rate: int, speed: float) -> np.ndarray:
    """``samples`` played ``speed`` times faster (same pitch); ``speed`` 1.0 returns them as is."""
    if speed == 1.0 or samples.size == 0:
        return samples
    graph = av.filter.Graph()
    time_base = Fraction(1, rate)
    nodes = [graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=time_base)]
    nodes += [graph.add("atempo", f"{factor:.6f}") for factor in _factors(speed)]
    nodes.append(graph.add("abuffersink"))
    for upstream, downstream in itertools.pairwise(nodes):
        upstream.link_to(downstream)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono"
    )
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, time_base
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray().reshape(-1))
        except (av.BlockingIOError, av.EOFError):
            break
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
