"""Per-request budgets: each limit refuses the requests of issue 14 (and their neighbours)
before any work, with an error naming its setting; the service still answers and nothing
was written."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import EVAL_DIR, services_of
from tests.hostile import db_fingerprint
from tests.tasks.music.test_midi_io import midi_of
from tympan.api.services import Services
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.audio.features import FeatureOptions
from tympan.budgets import SecondsBudget, check_budget, over_budget, setting_variable
from tympan.client import Client
from tympan.config import SAMPLE_RATE, Settings
from tympan.errors import BudgetExceeded, InvalidParameter
from tympan.tasks.asr import transcriber_for

SPEECH = EVAL_DIR / "bad_inputs" / "speech.ogg"
SAMPLE = EVAL_DIR / "diarization" / "sample.wav"


def _wav(seconds: float, offset: float = 0.0) -> bytes:
    """``seconds`` of real speech (the diarization sample) as WAV bytes, made in memory."""
    audio = decode_audio(SAMPLE).slice(offset, offset + seconds)
    return encode_audio(audio.samples, SAMPLE_RATE, "wav")


def _refused(response: httpx.Response, status: int, setting: str) -> dict:
    """The error of a refusal: its status, OpenAI's body, and the setting named."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert setting_variable(setting) in error["message"], error
    return error


@pytest.fixture
def untouched(api: Client, services: Services) -> Iterator[None]:
    """After the test: database and artifacts unchanged, and the service still answers."""
    artifacts = services.settings.artifacts_dir

    def files() -> list[str]:
        return sorted(str(p) for p in artifacts.rglob("*")) if artifacts.exists() else []

    before = (db_fingerprint(services.db), files())
    yield
    assert (db_fingerprint(services.db), files()) == before, "a refused request wrote something"
    assert api.health()["status"] == "ok"
    answer = api.post_audio("/v1/audio/vad", SPEECH, {"method": "energy"}).json()
    assert answer["segments"], answer


# -- the mechanism ---------------------------------------------------------------------------


def test_check_budget_names_the_setting_and_allows_the_limit_itself() -> None:
    settings = Settings(_env_file=None, max_feature_values=100)  # type: ignore[call-arg]
    check_budget(settings, "max_feature_values", 100, "values")
    with pytest.raises(BudgetExceeded) as info:
        check_budget(settings, "max_feature_values", 101, "values", param="file")
    error = info.value
    assert (error.status, error.code, error.param) == (413, "budget_exceeded", "file")
    assert "101 values" in error.message and "TYMPAN_MAX_FEATURE_VALUES" in error.message
    with pytest.raises(InvalidParameter) as bad:
        check_budget(settings, "max_feature_values", 101, "values", status=400)
    assert bad.value.status == 400 and "TYMPAN_MAX_FEATURE_VALUES" in bad.value.message


def test_seconds_budget_is_shared_by_the_files_of_a_request() -> None:
    budget = SecondsBudget("max_request_audio_seconds", 10.0)
    budget.spend(6.0)
    assert budget.remaining == pytest.approx(4.0)
    budget.spend(4.0)  # exactly the limit is allowed
    with pytest.raises(BudgetExceeded) as info:
        budget.spend(0.5, param="file")
    assert "TYMPAN_MAX_REQUEST_AUDIO_SECONDS" in info.value.message and budget.remaining == 0


def test_over_budget_builds_the_error_without_raising() -> None:
    error = over_budget("max_midi_events", 5, "6 MIDI events", param="prompt")
    assert isinstance(error, BudgetExceeded) and error.param == "prompt"


# -- features --------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [1.0, 60.0])
def test_features_n_fft_4096_hop_1_is_refused_before_work(api, untouched, seconds) -> None:
    """The issue's request (605 MB of JSON for 1 s; memory exhaustion for a minute)."""
    data = _long_wav(seconds)
    response = api._http.post(
        "/v1/audio/features",
        files={"file": ("clip.wav", data)},
        data={"kind": "spectrogram", "n_fft": "4096", "hop_length": "1"},
    )
    error = _refused(response, 413, "max_feature_values")
    assert error["code"] == "budget_exceeded"


def _long_wav(seconds: float) -> bytes:
    audio = decode_audio(SAMPLE)
    repeats = int(np.ceil(seconds / audio.duration))
    samples = np.tile(audio.samples, repeats)[: int(seconds * SAMPLE_RATE)]
    return encode_audio(samples, SAMPLE_RATE, "wav")


def test_features_budget_edge(api, services, untouched, monkeypatch) -> None:
    """A request costing exactly the budget is answered; one value more is refused."""
    data = _wav(1.0)
    num_samples = decode_audio(data).samples.shape[0]
    fields = {"kind": "spectrogram", "n_fft": "512", "hop_length": "64", "format": "npy"}
    cost = FeatureOptions(n_fft=512, hop_length=64).values_held(num_samples, "spectrogram")
    monkeypatch.setattr(services.settings, "max_feature_values", cost)
    answered = api._http.post("/v1/audio/features", files={"file": ("a.wav", data)}, data=fields)
    assert answered.status_code == 200
    values = np.load(io.BytesIO(answered.content))
    assert values.size == cost
    monkeypatch.setattr(services.settings, "max_feature_values", cost - 1)
    refused = api._http.post("/v1/audio/features", files={"file": ("a.wav", data)}, data=fields)
    _refused(refused, 413, "max_feature_values")
    json_answer = api._http.post(
        "/v1/audio/features",
        files={"file": ("a.wav", data)},
        data={**fields, "format": "json", "deltas": "1"},
    )
    _refused(json_answer, 413, "max_feature_values")  # deltas double the answer


def test_features_json_streams_the_same_values_as_npy(api, eval_dir) -> None:
    fields = {"kind": "log_mel", "n_mels": 40}
    body = api.post_audio("/v1/audio/features", SPEECH, fields).json()
    array = api.features(SPEECH, "log_mel", n_mels=40).values
    assert body["shape"] == list(array.shape) and len(body["frames"]) == array.shape[0]
    np.testing.assert_allclose(np.array(body["frames"], np.float32), array, rtol=1e-6)


# -- diarization -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields"),
    [("/v1/audio/diarization", {}), ("/v1/audio/transcriptions", {"diarize": "true"})],
)
def test_diarization_seconds_budget(api, services, untouched, monkeypatch, path, fields) -> None:
    monkeypatch.setattr(services.settings, "max_diarization_seconds", 5.0)
    response = api._http.post(path, files={"file": ("a.wav", _wav(8.0))}, data=fields)
    error = _refused(response, 413, "max_diarization_seconds")
    assert error["param"] == "file"


def test_diarization_within_budget_is_answered(api, services, monkeypatch) -> None:
    monkeypatch.setattr(services.settings, "max_diarization_seconds", 8.0)
    response = api._http.post("/v1/audio/diarization", files={"file": ("a.wav", _wav(8.0))})
    assert response.status_code == 200 and response.json()["segments"]


# -- enrollment and samples: files x seconds -------------------------------------------------


def test_enrollment_file_count(api, services, untouched, monkeypatch) -> None:
    monkeypatch.setattr(services.settings, "max_request_files", 2)
    files = [("file", (f"{i}.wav", _wav(2.0, 2.0 * i))) for i in range(3)]
    response = api._http.post("/v1/speakers", files=files, data={"name": "three files"})
    error = _refused(response, 400, "max_request_files")
    assert error["param"] == "file"


def test_enrollment_files_x_seconds(api, services, untouched, monkeypatch) -> None:
    """Each file is within max_audio_seconds; together they are over the request's budget."""
    monkeypatch.setattr(services.settings, "max_request_audio_seconds", 5.0)
    files = [("file", (f"{i}.wav", _wav(3.0, 3.0 * i))) for i in range(2)]
    response = api._http.post("/v1/speakers", files=files, data={"name": "too long"})
    _refused(response, 413, "max_request_audio_seconds")
    assert "too long" not in {speaker.name for speaker in api.speakers()}


def test_samples_files_x_seconds(api, services, monkeypatch) -> None:
    files = [("file", ("a.wav", _wav(3.0, 10.0)))]
    speaker = api._http.post("/v1/speakers", files=files, data={"name": "budgeted"}).json()
    try:
        monkeypatch.setattr(services.settings, "max_request_audio_seconds", 5.0)
        before = db_fingerprint(services.db)
        more = [("file", (f"{i}.wav", _wav(3.0, 3.0 * i))) for i in range(2)]
        response = api._http.post(f"/v1/speakers/{speaker['id']}/samples", files=more)
        _refused(response, 413, "max_request_audio_seconds")
        assert db_fingerprint(services.db) == before
        one = api._http.post(f"/v1/speakers/{speaker['id']}/samples", files=more[:1])
        assert one.status_code == 200 and one.json()["num_samples"] == 2, one.text
    finally:
        api._http.delete(f"/v1/speakers/{speaker['id']}")


def test_one_file_over_max_audio_seconds_names_that_setting(api, untouched) -> None:
    response = api._http.post(
        "/v1/audio/vad", files={"file": ("s.flac", (EVAL_DIR / "bad_inputs" / "silence_3h.flac")
                                         .read_bytes())}
    )  # fmt: skip
    _refused(response, 413, "max_audio_seconds")


# -- ASR queue -------------------------------------------------------------------------------


def test_asr_queue_full_answers_503_with_retry_after(api, services, untouched) -> None:
    model = services.registry.default("asr").id
    queue = transcriber_for(services.manager, services.settings).queue(model)
    capacity, queue.max_callers = queue.max_callers, 0
    try:
        for stream in ("false", "true"):  # a stream is refused before its 200
            response = api._http.post(
                "/v1/audio/transcriptions",
                files={"file": ("a.wav", _wav(2.0))},
                data={"stream": stream},
            )
            error = _refused(response, 503, "asr_queue_size")
            assert error["code"] == "overloaded" and response.headers["Retry-After"] == "1"
    finally:
        queue.max_callers = capacity
    assert queue.admitted == 0


# -- JSON bodies -----------------------------------------------------------------------------


def test_music_notes_json_over_the_limit(api, untouched) -> None:
    note = b'{"pitch": 60, "onset": 0, "duration": 1},'
    limit = Settings(_env_file=None).max_json_bytes  # type: ignore[call-arg]
    body = b'{"notes": [' + note * (limit // len(note) + 1) + b'{"pitch": 60}]}'
    response = api._http.post(
        "/v1/music/generations", content=body, headers={"content-type": "application/json"}
    )
    _refused(response, 413, "max_json_bytes")


def test_json_body_under_the_limit_still_meets_the_text_limit(api, untouched) -> None:
    response = api._http.post("/v1/audio/speech", json={"input": "a" * 5000})
    _refused(response, 413, "tts_max_input_chars")


# -- MIDI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "value"), [("max_midi_events", 50), ("max_midi_bytes", 500)])
def test_midi_prompt_limits(api, services, untouched, monkeypatch, setting, value) -> None:
    monkeypatch.setattr(services.settings, setting, value)
    response = api._http.post(
        "/v1/music/generations", files={"prompt": ("m.mid", midi_of(400))}, data={"bars": "2"}
    )
    assert _refused(response, 413, setting)["param"] == "prompt"


def test_upload_limit_names_its_setting(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    with Client.in_process(make_settings(tmp_path, max_upload_bytes=10_000)) as small:
        response = small._http.post("/v1/audio/vad", files={"file": ("a.wav", _wav(2.0))})
        _refused(response, 413, "max_upload_bytes")
        assert services_of(small).manager.memory_bytes == 0
