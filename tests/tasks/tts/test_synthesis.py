import numpy as np
import pytest

from tympan.tasks.tts import PiperSynthesizer
from tympan.tasks.tts.synthesis import MAX_CHUNK_PHONEMES, PEAK_LEVEL, split_long
from tympan.tasks.tts.voices import bundled_voice


@pytest.fixture(scope="module")
def synthesizer():
    return PiperSynthesizer(bundled_voice(), threads=1)


def test_split_long_cuts_after_spaces_and_keeps_everything():
    phonemes = list("ab cd ef gh")
    pieces = split_long(phonemes, limit=5)
    assert [p for piece in pieces for p in piece] == phonemes
    assert ["".join(piece) for piece in pieces] == ["ab ", "cd ", "ef gh"]
    assert split_long(list("abcdefgh"), limit=3) == [list("abc"), list("def"), list("gh")]
    assert split_long([], limit=3) == []


def test_phonemize_splits_sentences_and_long_run_ons(synthesizer):
    assert len(synthesizer.phonemize("One. Two? Three!")) == 3
    run_on = synthesizer.phonemize("word " * 300)
    assert len(run_on) > 1
    assert all(len(chunk) <= MAX_CHUNK_PHONEMES for chunk in run_on)
    assert synthesizer.phonemize("... ?! --") == []


def test_render_is_normalised_speech(synthesizer):
    (chunk,) = synthesizer.phonemize("The weather is lovely today.")
    audio = synthesizer.render(chunk)
    assert audio.dtype == np.float32
    assert np.isclose(np.abs(audio).max(), PEAK_LEVEL, atol=1e-4)
    assert 0.8 < len(audio) / synthesizer.sample_rate < 4.0
