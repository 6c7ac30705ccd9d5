import json

import pytest

from tests.conftest import make_settings
from tympan.errors import InvalidParameter
from tympan.tasks.tts import (
    OPENAI_VOICES,
    check_voice_map,
    model_specs,
    resolve_voice,
    voice_cards,
)
from tympan.tasks.tts.voices import bundled_voice, piper_voice


@pytest.fixture(scope="module")
def joe():
    return bundled_voice()


@pytest.fixture(scope="module")
def narrator(joe):
    return piper_voice("narrator", joe.model_path)


def test_bundled_voice_reads_its_config(joe):
    config = json.loads(joe.config_path.read_text())
    assert joe.model_id == "piper-joe-medium"
    assert joe.sample_rate == config["audio"]["sample_rate"] == 22050
    assert joe.language == "en_US"
    assert joe.model_path.stat().st_size > 10_000_000


def test_piper_name_wins_then_map_then_the_models_voice(joe, narrator):
    voices = [joe, narrator]
    voice_map = check_voice_map(voices, {"Alloy": "narrator", "storyteller": "narrator"})
    assert resolve_voice("narrator", voices, voice_map, joe) is narrator
    assert resolve_voice("joe", voices, voice_map, narrator) is joe
    assert resolve_voice("ALLOY", voices, voice_map, joe) is narrator
    assert resolve_voice("storyteller", voices, voice_map, joe) is narrator
    for name in set(OPENAI_VOICES) - {"alloy"}:
        assert resolve_voice(name, voices, voice_map, joe) is joe
        assert resolve_voice(name, voices, voice_map, narrator) is narrator


@pytest.mark.parametrize("name", ["", "bob", "alloy2", "../joe"])
def test_unknown_voice_is_a_400(joe, name):
    with pytest.raises(InvalidParameter) as caught:
        resolve_voice(name, [joe], {}, joe)
    assert caught.value.param == "voice"
    assert "alloy" in caught.value.message


def test_cards_show_where_openai_names_go(joe, narrator):
    cards = voice_cards([joe, narrator], {"echo": "narrator"})
    assert [card.id for card in cards] == ["joe", "narrator"]
    assert cards[1].openai_voices == ["echo"]
    assert set(cards[0].openai_voices) == set(OPENAI_VOICES) - {"echo"}


def test_configured_voices_become_models(tmp_path, joe):
    settings = make_settings(tmp_path, tts_voices={"narrator": joe.model_path})
    specs = model_specs(settings)
    assert [spec.id for spec in specs] == ["piper-joe-medium", "piper-narrator"]
    assert {"tts-1", "tts-1-hd"} <= set(specs[0].aliases)
    assert specs[1].aliases == ()
    assert all(spec.task == "tts" and spec.size_bytes > 0 for spec in specs)


def test_bad_voice_configuration_fails_at_start(tmp_path, joe):
    missing = make_settings(tmp_path, tts_voices={"ghost": tmp_path / "ghost.onnx"})
    with pytest.raises(ValueError, match="ghost"):
        model_specs(missing)
    no_config = tmp_path / "lonely.onnx"
    no_config.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"lonely\.onnx\.json"):
        model_specs(make_settings(tmp_path, tts_voices={"lonely": no_config}))
    with pytest.raises(ValueError, match="nobody"):
        model_specs(make_settings(tmp_path, tts_voice_map={"alloy": "nobody"}))
    with pytest.raises(ValueError, match="repeats"):
        model_specs(make_settings(tmp_path, tts_voices={"joe": joe.model_path}))


def test_voices_and_map_read_from_the_environment(tmp_path, monkeypatch, joe):
    monkeypatch.setenv("TYMPAN_TTS_VOICES", f"narrator={joe.model_path}, second={joe.model_path}")
    monkeypatch.setenv("TYMPAN_TTS_VOICE_MAP", "alloy=narrator,nova=second")
    settings = make_settings(tmp_path)
    assert settings.tts_voices == {"narrator": joe.model_path, "second": joe.model_path}
    assert settings.tts_voice_map == {"alloy": "narrator", "nova": "second"}
    assert [spec.id for spec in model_specs(settings)][1:] == ["piper-narrator", "piper-second"]
    monkeypatch.setenv("TYMPAN_TTS_VOICE_MAP", "alloy")
    with pytest.raises(ValueError, match="tts_voice_map must read"):
        make_settings(tmp_path)
