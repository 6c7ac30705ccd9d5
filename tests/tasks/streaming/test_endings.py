"""``sounds_finished`` on texts tiny.en gave for LJ001-0001 cut at a sentence's end and in the
middle of it (0.2-0.3 s of silence after the cut, as a decode ahead at a pause has)."""

from __future__ import annotations

import pytest

from tympan.tasks.streaming.endings import sounds_finished


@pytest.mark.parametrize(
    "text",
    [
        " Printing, in the only sense with which we are at present concern, differs from most"
        " if not from all the arts and crafts represented in the exhibition.",
        " produced the block books.",
        " Is that right?",
        " Yes!",
        ' He said "stop."',
        "",  # a cough: no words that could go on
    ],
)
def test_a_sentence_that_ends_sounds_finished(text):
    assert sounds_finished(text)


@pytest.mark.parametrize(
    "text",
    [
        " Printing in the only sense with which we are at present concerned differs from most"
        " if not from all",
        " Printing, in the only sense with which we are at present concern, differs from most"
        " if not from all the arts and crafts represented in the",
        " Printing, in the only sense with which we are at present concerned,",
        " So we went to the station and.",
        " I think the, um.",
        " and then...",
    ],
)
def test_text_that_stops_mid_sentence_or_leads_on_does_not(text):
    assert not sounds_finished(text)
