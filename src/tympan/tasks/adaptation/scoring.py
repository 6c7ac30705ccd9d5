"""Word error rate as the evaluation sets are scored: Whisper's English normaliser, then jiwer."""

from __future__ import annotations

from collections.abc import Sequence

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

__all__ = ["normalise", "word_error_rate"]

_ENGLISH = EnglishTextNormalizer()


def normalise(text: str) -> str:
    """``text`` as WER compares it (case, punctuation, spellings and numbers made uniform)."""
    return _ENGLISH(text)


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER of ``hypotheses`` against ``references`` (an empty hypothesis counts every
    reference word as deleted)."""
    pairs = [(normalise(r), normalise(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return 0.0
    output = jiwer.process_words([r for r, _ in pairs], [h or "<empty>" for _, h in pairs])
    return output.wer
