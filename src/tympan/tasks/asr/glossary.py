"""Glossaries: names and terms a model should favour, stored per model and used by every request.

Words without training (issue 19): a glossary is given to Whisper as faster-whisper's
``hotwords``, a prefix before the previous-text prompt, which steers the spelling of rare names
(``benchmarks/bench_glossary.py``: 27 % of the long-form chapter's printers' names came out
right without one, 88 % with it, and the WER of clips without any of the names did not rise).
A request's own ``hotwords`` go first, because Whisper keeps only the start of a long prefix.
"""

from __future__ import annotations

from dataclasses import replace

from tympan.budgets import check_budget
from tympan.config import Settings
from tympan.errors import InvalidParameter
from tympan.tasks.asr.pipeline import TranscribeOptions

__all__ = ["MAX_ENTRY_CHARS", "check_glossary", "glossary_hotwords", "with_glossary"]

MAX_ENTRY_CHARS = 100


def check_glossary(words: list[str], settings: Settings) -> list[str]:
    """The entries stripped and without repeats; ``InvalidParameter`` (400) for an empty or
    over-long entry, ``BudgetExceeded`` (413, naming TYMPAN_MAX_GLOSSARY_WORDS) for too many."""
    cleaned = list(dict.fromkeys(word.strip() for word in words))
    for word in cleaned:
        if not word:
            raise InvalidParameter("A glossary entry is empty.", param="words")
        if len(word) > MAX_ENTRY_CHARS:
            raise InvalidParameter(
                f"Glossary entry {word[:40]!r}... is over {MAX_ENTRY_CHARS} characters.",
                param="words",
            )
    check_budget(settings, "max_glossary_words", len(cleaned), "glossary entries", param="words")
    return cleaned


def glossary_hotwords(hotwords: str | None, words: list[str]) -> str | None:
    """A request's ``hotwords`` followed by the glossary's entries (None when both are empty)."""
    parts = [part for part in (hotwords and hotwords.strip(), ", ".join(words)) if part]
    return ", ".join(parts) or None


def with_glossary(options: TranscribeOptions, words: list[str]) -> TranscribeOptions:
    """``options`` whose hotwords also carry the glossary ``words``."""
    if not words:
        return options
    return replace(options, hotwords=glossary_hotwords(options.hotwords, words))
