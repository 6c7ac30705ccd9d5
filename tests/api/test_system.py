"""Health, the model list, auth, limits and the error body every failure shares."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tympan.client import Client
from tympan.errors import (
    AudioTooLong,
    AuthenticationFailed,
    Conflict,
    ModelNotFound,
    NotFound,
    UploadTooLarge,
)


def test_health(api) -> None:
    health = api.health()
    assert health["status"] == "ok" and health["version"]


def test_models_are_listed_in_openai_format(api) -> None:
    body = api.request("GET", "/v1/models").json()
    assert body["object"] == "list"
    cards = {card["id"]: card for card in body["data"]}
    silero = cards["silero-vad"]
    assert silero["object"] == "model" and silero["owned_by"] == "tympan"
    assert silero["task"] == "vad" and silero["backend"] == "onnxruntime"
    assert silero["source"].startswith("package:silero-vad")
    assert silero["size_bytes"] > 100_000


def test_models_show_loading_and_memory(tmp_path, eval_dir) -> None:
    with Client.in_process(make_settings(tmp_path)) as client:
        assert client.request("GET", "/v1/models/silero-vad").json()["loaded"] is False
        client.vad(eval_dir / "bad_inputs" / "speech.ogg", "silero")
        card = client.request("GET", "/v1/models/silero-vad").json()
        assert card["loaded"] is True and card["memory_bytes"] > 0
        assert client.models(task="vad")[0]["id"] == "silero-vad"
        assert client.models(task="nothing") == []


def test_unknown_model_and_route_get_404_bodies(api) -> None:
    with pytest.raises(ModelNotFound):
        api.request("GET", "/v1/models/no-such-model")
    response = api._http.get("/v1/no/such/route")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(NotFound):
        api.job("job_missing")


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"status": "bogus"}])
def test_job_list_bad_parameters(api, params) -> None:
    response = api._http.get("/v1/jobs", params=params)
    assert response.status_code == 400 and response.json()["error"]["message"]
    assert api.health()["status"] == "ok"


def test_models_load_and_unload_by_hand(tmp_path, eval_dir) -> None:
    with Client.in_process(make_settings(tmp_path)) as client:
        assert client.load_model("silero-vad")["loaded"] is True
        assert client.unload_model("silero-vad")["loaded"] is False
        assert client.unload_model("silero-vad")["loaded"] is False  # unloading twice is fine
        manager = client._http.app.state.services.manager  # type: ignore[attr-defined]
        with manager.use("silero-vad"), pytest.raises(Conflict, match="serving a request"):
            client.unload_model("silero-vad")  # a request holds the model
        assert client.unload_model("silero-vad")["loaded"] is False
        with pytest.raises(ModelNotFound):
            client.unload_model("no-such-model")
        with pytest.raises(ModelNotFound):
            client.load_model("no-such-model")
        assert client.vad(eval_dir / "bad_inputs" / "speech.ogg", "silero").segments


def test_api_keys_guard_v1_but_not_health(tmp_path, eval_dir) -> None:
    settings = make_settings(tmp_path, api_keys="k1,k2")
    with Client.in_process(settings) as anonymous:
        assert anonymous.health()["status"] == "ok"
        with pytest.raises(AuthenticationFailed):
            anonymous.models()
        response = anonymous._http.get("/v1/models", headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    with Client.in_process(settings, api_key="k2") as allowed:
        assert allowed.models()


def test_upload_byte_limit(tmp_path, eval_dir) -> None:
    with Client.in_process(make_settings(tmp_path, max_upload_bytes=10_000)) as client:
        with pytest.raises(UploadTooLarge) as info:
            client.vad(eval_dir / "diarization" / "sample.wav", "energy")
        assert info.value.status == 413
        assert client.vad(eval_dir / "bad_inputs" / "tiny_10ms.wav", "energy").duration < 0.1


def test_duration_limit(tmp_path, eval_dir) -> None:
    settings = make_settings(tmp_path, max_audio_seconds=10)
    with Client.in_process(settings) as client, pytest.raises(AudioTooLong):
        client.vad(eval_dir / "diarization" / "sample.wav", "energy")
