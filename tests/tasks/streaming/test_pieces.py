"""Where a long piece of a turn with no pause in it is cut: between two of a preview's words."""

from __future__ import annotations

from functools import partial

from tympan.tasks.asr import Word
from tympan.tasks.streaming import pieces

between_words = partial(pieces.between_words, gap=0.1)


def _words(*timed: tuple[str, float, float]) -> list[Word]:
    return [Word(f" {text}", start, end, 0.9) for text, start, end in timed]


WORDS = _words(
    ("I", 0.0, 0.2),
    ("thought,", 0.2, 0.5),  # a phrase's end with no gap
    ("you", 0.5, 0.6),
    ("know", 0.6, 0.8),  # a silence of 0.15 s after it
    ("I", 0.95, 1.0),
    ("heard", 1.0, 1.2),
    ("a", 1.2, 1.3),  # a gap of 0.05 s: shorter than ``gap``
    ("beep.", 1.35, 1.7),  # a sentence's end, 0.2 s before the next word
    ("This", 1.9, 2.1),
    ("is", 2.1, 2.3),
)


def test_a_cut_goes_after_a_sentence_end_else_a_clause_end_the_earliest_there_is():
    assert between_words(WORDS, 0.0, 2.5) == (1.7, 1.9)  # "beep.", though "thought," is earlier
    assert between_words(WORDS, 0.0, 1.5) == (0.5, 0.5)  # the comma: the only phrase end
    two_sentences = _words(("there.", 0.0, 0.3), ("Neither", 0.5, 0.7), ("design.", 0.7, 1.0))
    wide_gap = _words(("I", 1.6, 1.7))  # a word the preview missed may lie in a wide gap
    assert between_words(two_sentences + wide_gap, 0.0, 2.0) == (0.3, 0.5)  # not (1.0, 1.6)


def test_without_a_phrase_end_only_a_silence_between_words_is_a_cut():
    plain = [Word(word.word.rstrip(",."), word.start, word.end, 0.9) for word in WORDS]
    assert between_words(plain, 0.0, 2.5) == (0.8, 0.95)  # the earliest silence
    assert between_words(plain, 0.9, 2.5) == (1.7, 1.9)
    assert between_words(plain, 1.0, 1.5) is None  # "heard a beep": no silence of 0.1 s


def test_no_cut_outside_the_span_allowed_or_without_two_words():
    assert between_words(WORDS, 2.0, 2.5) is None
    assert between_words(WORDS, 0.0, 1.85) == (0.5, 0.5)  # "beep." ends in, "This" starts out
    assert between_words(WORDS[:1], 0.0, 2.5) is None
    assert between_words([], 0.0, 2.5) is None
