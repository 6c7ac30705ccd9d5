"""FluidSynth rendering and PyAV encoding: real sound of the right length in every format."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tests.tasks.music.conftest import opening
from tympan.audio.encode import encode_audio
from tympan.config import Settings
from tympan.errors import TympanError
from tympan.tasks.music import RENDER_RATE, render_midi, write_midi
from tympan.tasks.music.corpus import Piece


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """All samples of an encoded file, decoded by PyAV (mono float)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        frames = [f.to_ndarray() for fr in container.decode(stream) for f in resampler.resample(fr)]
    return np.concatenate(frames, axis=1)[0], stream.rate


@pytest.fixture(scope="module")
def rendered(held_out: Piece, music_settings: Settings) -> tuple[np.ndarray, float]:
    melody = opening(held_out)
    samples = render_midi(write_midi(melody, 120.0), music_settings.music_soundfont)
    return samples, float(melody.length) * 0.5


def test_render_lasts_the_piece_and_sounds(rendered: tuple[np.ndarray, float]) -> None:
    samples, seconds = rendered
    assert seconds <= len(samples) / RENDER_RATE <= seconds + 2.5  # plus the release tail
    assert np.sqrt(np.mean(samples**2)) > 0.01


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac"])
def test_encoded_audio_decodes(rendered: tuple[np.ndarray, float], fmt: str) -> None:
    samples, _ = rendered
    decoded, rate = decode(encode_audio(samples, RENDER_RATE, fmt))  # type: ignore[arg-type]
    assert rate == RENDER_RATE
    assert abs(len(decoded) - len(samples)) < 0.05 * RENDER_RATE
    assert np.sqrt(np.mean(decoded**2)) > 0.01


def test_missing_soundfont_says_what_to_install(tmp_path, held_out: Piece) -> None:
    with pytest.raises(TympanError) as error:
        render_midi(write_midi(opening(held_out), 120.0), tmp_path / "none.sf2")
    assert "fluid-soundfont-gm" in error.value.message
