"""Hear a piece: FluidSynth renders the MIDI with a General MIDI SoundFont, PyAV encodes it.

Rendering goes through pretty_midi's ``fluidsynth`` (pyfluidsynth over libfluidsynth, both from
Debian/PyPI); the SoundFont is Debian's ``fluid-soundfont-gm`` unless Settings name another.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np

from tympan.errors import TympanError

__all__ = ["RENDER_RATE", "AudioFormat", "render_midi"]

RENDER_RATE = 44_100
AudioFormat = Literal["wav", "mp3", "flac"]
"""The audio formats music answers in (encoded by ``tympan.audio.encode``)."""
_PEAK = 0.89  # headroom under full scale so lossy encoding does not clip


def render_midi(midi: bytes, soundfont: Path, rate: int = RENDER_RATE) -> np.ndarray:
    """Mono float32 samples of a MIDI file played by FluidSynth, peak-normalised."""
    import pretty_midi

    if not soundfont.is_file():
        raise TympanError(
            f"SoundFont {soundfont} not found: install Debian's fluid-soundfont-gm "
            "(scripts/install.sh does) or set TYMPAN_MUSIC_SOUNDFONT."
        )
    score = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    try:
        samples = score.fluidsynth(fs=rate, synthesizer=str(soundfont))
    except ImportError as exc:  # pyfluidsynth present, libfluidsynth missing
        raise TympanError(
            f"FluidSynth is not available ({exc}): install Debian's fluidsynth "
            "(scripts/install.sh does)."
        ) from exc
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    return (samples * (_PEAK / peak if peak > 0 else 1.0)).astype(np.float32)
