"""``tympan.api.speaker_runs``: speaker-model choice and diarization shared by routers."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import tympan.api.routers as routers_package
from tests.speaker_data import DIARIZATION_DIR
from tympan.api.services import Services
from tympan.api.speaker_runs import diarize_audio, resolve_speaker_model
from tympan.audio import decode_audio
from tympan.errors import ModelNotFound
from tympan.tasks.diarization import DiarizationOptions
from tympan.tasks.speakers import SPEAKER_TASK


def test_default_and_unknown_speaker_model(services: Services) -> None:
    assert resolve_speaker_model(services, None) == services.registry.default(SPEAKER_TASK).id
    with pytest.raises(ModelNotFound):
        resolve_speaker_model(services, "no-such-speaker-model")


def test_diarize_audio_finds_both_speakers(services: Services) -> None:
    audio = decode_audio(DIARIZATION_DIR / "sample.wav")
    options = DiarizationOptions(identify=False)
    result = asyncio.run(diarize_audio(services, audio, None, options, "default"))
    assert result.num_speakers == 2


def test_routers_never_import_each_other() -> None:
    folder = Path(routers_package.__file__).parent
    for module in folder.glob("*.py"):
        tree = ast.parse(module.read_text())
        imported = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        ]
        assert not [m for m in imported if m.startswith("tympan.api.routers")], module.name
