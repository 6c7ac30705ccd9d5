import numpy as np
import pytest

from tympan.tasks.tts.tempo import change_tempo

RATE = 22_050


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()])


@pytest.mark.parametrize("speed", [0.25, 0.5, 0.8, 1.25, 2.0, 4.0])
def test_duration_is_one_over_speed_and_pitch_is_kept(speed):
    t = np.arange(2 * RATE) / RATE
    tone = (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    out = change_tempo(tone, RATE, speed)
    assert out.dtype == np.float32
    assert len(out) / RATE == pytest.approx(2 / speed, rel=0.03)
    assert _dominant_hz(out) == pytest.approx(300, abs=5)


def test_speed_one_and_empty_input_are_untouched():
    samples = np.ones(100, np.float32)
    assert change_tempo(samples, RATE, 1.0) is samples
    assert change_tempo(np.zeros(0, np.float32), RATE, 2.0).size == 0
