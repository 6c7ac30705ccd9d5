"""``PartialText``: delta events from repeated decodes of a growing turn.

Each partial decode re-reads the whole open turn, and its last words often change as more
audio arrives. A word is sent once two decodes in a row agree on it and on every word before
it (local agreement), so deltas rarely need taking back; the final decode sends the rest.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = ["PartialText"]

_PUNCTUATION = re.compile(r"[^\w']+")


def _key(word: str) -> str:
    """A word as agreement compares it: case and punctuation do not count."""
    return _PUNCTUATION.sub("", word.lower())


def _common_prefix(first: list[str], second: list[str]) -> int:
    count = 0
    for a, b in zip(first, second, strict=False):
        if _key(a) != _key(b):
            break
        count += 1
    return count


class PartialText:
    """What has been sent of one turn's text, and the last hypothesis seen."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._previous: list[str] = []

    def update(self, hypothesis: str) -> str:
        """The delta to send after a partial decode (empty when nothing new is agreed).

        The first decode has nothing to agree with: all its words but the last (the one
        most likely cut off mid-word) count as agreed, so the first delta comes early.
        """
        words = hypothesis.split()
        first = not self._previous and not self.sent
        agreed = len(words) - 1 if first else _common_prefix(self._previous, words)
        self._previous = words
        if agreed <= len(self.sent) or _common_prefix(self.sent, words) < len(self.sent):
            return ""
        new, self.sent = words[len(self.sent) : agreed], words[:agreed]
        return " " + " ".join(new)

    def finish(self, final: str) -> str:
        """The last delta: the final text's words after those already sent.

        When the final decode changed a word that was sent (``concerned`` -> ``concern``), the
        sent words are aligned to the final ones (difflib), and the rest goes out from where
        the sent text ends, so the deltas still end as the final text does; the completed
        event carries the corrected text whole.
        """
        words = final.split()
        blocks = SequenceMatcher(
            a=[_key(w) for w in self.sent], b=[_key(w) for w in words], autojunk=False
        ).get_matching_blocks()
        matched = [block for block in blocks if block.size]
        a_end, b_end = (
            (matched[-1].a + matched[-1].size, matched[-1].b + matched[-1].size)
            if matched
            else (0, 0)
        )
        cut = min(len(words), b_end + len(self.sent) - a_end)
        self.sent = words
        return " " + " ".join(words[cut:]) if cut < len(words) else ""
