"""``PartialText``: delta events from repeated decodes of a growing turn.

Each partial decode re-reads the whole open turn, and its last words often change as more
audio arrives. A word is sent once two decodes in a row agree on it and on every word before
it (local agreement), or once it is stable (the final text of a finished piece of the turn),
so deltas rarely need taking back; the final decode sends the rest. When a later decode
changed words already sent, the sent words are aligned to it and deltas go on from where they
end there.
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


def _sent_end(sent: list[str], words: list[str]) -> int:
    """Where the ``sent`` words end in ``words``, aligned word by word (difflib), so a word
    changed in between (``concerned`` -> ``concern``) does not lose the place."""
    blocks = SequenceMatcher(
        a=[_key(w) for w in sent], b=[_key(w) for w in words], autojunk=False
    ).get_matching_blocks()
    matched = [block for block in blocks if block.size]
    if not matched:
        return min(len(words), len(sent))
    last = matched[-1]
    return min(len(words), last.b + last.size + len(sent) - (last.a + last.size))


class PartialText:
    """What has been sent of one turn's text, and the last hypothesis seen."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._previous: list[str] = []

    def update(self, hypothesis: str, stable: int = 0, *, at_pause: bool = False) -> str:
        """The delta to send after a partial decode (empty when nothing new is agreed);
        its first ``stable`` words are final already, and ``at_pause`` says the audio
        decoded ends in a pause (no word was cut off).

        Until the turn's first words are out, a decode need not agree with the one before:
        all its words but the last (the one most likely cut off mid-word) count as agreed,
        so the first delta comes early; all of them when the audio ends in a pause.
        """
        words = hypothesis.split()
        if not self.sent:
            agreed = len(words) if at_pause else len(words) - 1
        else:
            agreed = _common_prefix(self._previous, words)
        agreed = max(agreed, min(stable, len(words)))
        self._previous = words
        sent_end = _sent_end(self.sent, words)
        if agreed <= sent_end:
            return ""
        self.sent = words[:agreed]
        return " " + " ".join(words[sent_end:agreed])

    def finish(self, final: str) -> str:
        """The last delta: the final text's words after those already sent.

        When the final decode changed a word that was sent (``concerned`` -> ``concern``), the
        sent words are aligned to the final ones (difflib), and the rest goes out from where
        the sent text ends, so the deltas still end as the final text does; the completed
        event carries the corrected text whole.
        """
        words = final.split()
        cut = _sent_end(self.sent, words)
        self.sent = words
        return " " + " ".join(words[cut:]) if cut < len(words) else ""
