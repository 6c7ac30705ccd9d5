"""``PartialText``: delta events from repeated decodes of a growing turn.

Each partial decode re-reads the whole open turn, and its last words often change as more
audio arrives. A word is sent once two decodes in a row agree on it and on every word before
it (local agreement), so deltas rarely need taking back; the final decode sends the rest.
"""

from __future__ import annotations

import re

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
        """The last delta: the final text's words after those sent, if it still starts with
        them (otherwise the completed event alone carries the corrected text)."""
        words = final.split()
        if _common_prefix(self.sent, words) < len(self.sent) or len(words) == len(self.sent):
            return ""
        rest = words[len(self.sent) :]
        self.sent = words
        return " " + " ".join(rest)
