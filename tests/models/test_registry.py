"""The registry: ids, aliases, tasks, and resolvers asked for ids not registered yet."""

from __future__ import annotations

import pytest

from tympan.errors import ModelNotFound
from tympan.models.registry import ModelRegistry
from tympan.models.spec import ModelSpec


def _spec(model_id: str, task: str = "asr") -> ModelSpec:
    return ModelSpec(model_id, task, "test", "test", lambda: model_id)


def test_a_resolver_registers_what_it_finds_once() -> None:
    asked: list[str] = []

    def resolve(model_id: str) -> ModelSpec | None:
        asked.append(model_id)
        return _spec(model_id) if model_id.startswith("ft:") else None

    registry = ModelRegistry([_spec("whisper-tiny.en")])
    registry.add_resolver(resolve)
    assert registry.get("whisper-tiny.en").id == "whisper-tiny.en" and asked == []
    assert registry.get("ft:whisper-tiny.en:acme:1", task="asr").id == "ft:whisper-tiny.en:acme:1"
    assert registry.get("ft:whisper-tiny.en:acme:1").id == "ft:whisper-tiny.en:acme:1"
    assert asked == ["ft:whisper-tiny.en:acme:1"]  # registered by the first lookup
    assert [spec.id for spec in registry.list("asr")][-1] == "ft:whisper-tiny.en:acme:1"
    with pytest.raises(ModelNotFound):
        registry.get("nothing")
    with pytest.raises(ModelNotFound):
        registry.get("ft:whisper-tiny.en:acme:2", task="vad")
