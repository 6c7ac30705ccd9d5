"""``sounds_finished``: whether a turn's text says its speaker has finished (``semantic_vad``).

Whisper punctuates from what it hears: a falling voice at the end of a sentence gets ``.``, a
question ``?``. A turn whose text ends a sentence is likely finished; text that stops
mid-sentence (no terminal punctuation, a comma, a trailing ``...``) or whose last word only
leads into more (``and.``, ``the.``, ``um.``) is likely to go on, so the speaker is given the
eagerness' longest wait. Text with no words at all (a cough, a noise) has nothing to go on.
"""

from __future__ import annotations

import re

__all__ = ["sounds_finished"]

_TERMINAL = (".", "?", "!")
_TRAILING_OFF = ("...", "\u2026", "-")
_LEADS_ON = frozenset(
    {
        "and",
        "but",
        "or",
        "because",
        "cause",
        "if",
        "the",
        "a",
        "an",
        "my",
        "your",
        "our",
        "their",
        "um",
        "uh",
        "uhm",
        "er",
        "erm",
        "hmm",
        "mm",
    }
)
"""Words a speaker pauses after before going on, whatever punctuation Whisper gave them."""
_WORD = re.compile(r"[\w']+")


def sounds_finished(text: str) -> bool:
    """Whether ``text`` (a turn's words so far) ends a sentence a speaker stops after."""
    text = text.strip().strip("\"'\u201d\u2019)")
    words = _WORD.findall(text.lower())
    if not words:
        return True
    if text.endswith(_TRAILING_OFF) or not text.endswith(_TERMINAL):
        return False
    return words[-1] not in _LEADS_ON
