"""``/v1/speakers``: embed, enroll, samples, list/get/delete, verify, identify, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings, services_of
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tests.speaker_data import utterances
from tympan.client import Client
from tympan.errors import (
    Conflict,
    InvalidAudio,
    InvalidParameter,
    ModelNotFound,
    ResourceNotFound,
)
from tympan.tasks.speakers import DEFAULT_THRESHOLDS, GE2E_MODEL_ID, Speaker

VOICES = utterances()
A, B, C, STRANGER = (VOICES[s] for s in ("1688", "367", "2414", "3080"))


@pytest.fixture(scope="module", autouse=True)
def _remove_created_speakers(api: Client) -> Iterator[None]:
    """Speakers this module enrolls are deleted after it, so other modules see none of them."""
    before = {speaker.id for speaker in api.speakers()}
    yield
    for speaker in api.speakers():
        if speaker.id not in before:
            api.delete_speaker(speaker.id)


@pytest.fixture(scope="module")
def trio(api: Client) -> list[Speaker]:
    """Three enrolled LibriSpeech speakers (two utterances each)."""
    return [api.enroll_speaker(f"api-{i}", paths[:2]) for i, paths in enumerate((A, B, C))]


def test_embed_is_a_unit_vector_of_the_default_model(api: Client) -> None:
    result = api.speaker_embedding(A[0])
    assert result.model == GE2E_MODEL_ID and result.dim == 256
    assert abs(np.linalg.norm(result.embedding) - 1.0) < 1e-4
    other = api.speaker_embedding(A[0], model="voicefilter-dvector")
    assert other.model == "voicefilter-dvector" and other.embedding != result.embedding
    with pytest.raises(ModelNotFound):
        api.speaker_embedding(A[0], model="no-such-model")
    with pytest.raises(ModelNotFound):
        api.speaker_embedding(A[0], model="silero-vad")  # a model, but not a speaker model


def test_speaker_models_are_listed(api: Client) -> None:
    models = {m["id"]: m for m in api.models(task="speaker")}
    assert {"resemblyzer-ge2e", "voicefilter-dvector"} <= set(models)


def test_enroll_get_list_add_samples_delete(api: Client) -> None:
    created = api.enroll_speaker("Flow Test", A[:2], metadata={"dept": "qa", "n": 1})
    assert created.num_samples == 2 and created.metadata == {"dept": "qa", "n": 1}
    assert created.model == GE2E_MODEL_ID
    assert api.speaker(created.id) == created
    assert created.id in {s.id for s in api.speakers()}
    grown = api.add_speaker_samples(created.id, [A[2], A[3]])
    assert grown.num_samples == 4 and grown.speech_seconds > created.speech_seconds
    api.delete_speaker(created.id)
    assert created.id not in {s.id for s in api.speakers()}
    for call in (api.speaker, api.delete_speaker):
        with pytest.raises(ResourceNotFound):
            call(created.id)


def test_conflicting_names_are_refused(api: Client, trio: list[Speaker]) -> None:
    with pytest.raises(Conflict):
        api.enroll_speaker(trio[0].name.upper(), A[4])


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"name": "  "}, "name"),
        ({"name": "m1", "metadata": "{not json"}, "metadata"),
        ({"name": "m2", "metadata": "[1, 2]"}, "metadata"),
        ({"name": "m3", "metadata": '{"x": "' + "y" * 17_000 + '"}'}, "metadata"),
    ],
)
def test_enroll_bad_parameters(api: Client, fields: dict, param: str) -> None:
    response = api._http.post(
        "/v1/speakers", files={"file": ("a.flac", A[0].read_bytes())}, data=fields
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_enroll_without_file_or_name(api: Client) -> None:
    assert api._http.post("/v1/speakers", data={"name": "nofile"}).status_code == 400
    no_name = api._http.post("/v1/speakers", files={"file": ("a.flac", A[0].read_bytes())})
    assert no_name.status_code == 400


def test_unknown_speaker_ids_are_404(api: Client) -> None:
    with pytest.raises(ResourceNotFound):
        api.add_speaker_samples("spk_nobody", A[0])
    with pytest.raises(ResourceNotFound):
        api.verify_speaker(A[0], speaker_id="spk_nobody")
    with pytest.raises(ResourceNotFound):
        api.identify_speaker(A[0], speaker_ids=["spk_nobody"])


def test_verify_against_speaker_and_against_file(api: Client, trio: list[Speaker]) -> None:
    same = api.verify_speaker(A[5], speaker_id=trio[0].id)
    other = api.verify_speaker(B[5], speaker_id=trio[0].id)
    assert same.same_speaker and not other.same_speaker and same.score > other.score
    assert same.threshold == DEFAULT_THRESHOLDS[GE2E_MODEL_ID] and same.name == trio[0].name
    pair = api.verify_speaker(A[5], file2=A[6])
    assert pair.same_speaker and pair.speaker_id is None
    strict = api.verify_speaker(A[5], file2=A[6], threshold=min(1.0, pair.score + 0.01))
    assert not strict.same_speaker and strict.score == pair.score


@pytest.mark.parametrize(
    "fields",
    [
        {},  # neither speaker_id nor file2
        {"threshold": "1.5"},
        {"threshold": "abc"},
        {"model": "voicefilter-dvector", "speaker_id": "FIRST"},  # enrolled with another model
    ],
)
def test_verify_bad_parameters(api: Client, trio: list[Speaker], fields: dict) -> None:
    data = {k: trio[0].id if v == "FIRST" else v for k, v in fields.items()}
    response = api._http.post(
        "/v1/speakers/verify", files={"file": ("a.flac", A[0].read_bytes())}, data=data
    )
    assert response.status_code == 400, response.text


def test_verify_with_both_references_is_refused(api: Client, trio: list[Speaker]) -> None:
    with pytest.raises(InvalidParameter):
        api.verify_speaker(A[0], speaker_id=trio[0].id, file2=A[1])


def test_verify_undecodable_second_file(api: Client, eval_dir: Path) -> None:
    with pytest.raises(InvalidAudio) as caught:
        api.verify_speaker(A[0], file2=eval_dir / "bad_inputs" / "random_bytes.mp3")
    assert caught.value.param == "file2"


def test_identify_ranks_and_returns_null_for_strangers(api: Client, trio: list[Speaker]) -> None:
    ids = [s.id for s in trio]
    for speaker, paths in zip(trio, (A, B, C), strict=True):
        found = api.identify_speaker(paths[7], speaker_ids=ids)
        assert found.speaker is not None and found.speaker.speaker_id == speaker.id
    stranger = api.identify_speaker(STRANGER[0], speaker_ids=ids, top_k=2)
    assert stranger.speaker is None and len(stranger.ranking) == 2
    assert stranger.ranking[0].score < stranger.threshold
    only_b = api.identify_speaker(A[7], speaker_ids=[trio[1].id])
    assert only_b.speaker is None and [c.speaker_id for c in only_b.ranking] == [trio[1].id]
    loose = api.identify_speaker(STRANGER[0], speaker_ids=ids, threshold=-1.0)
    assert loose.speaker == loose.ranking[0]


def test_rename_and_new_metadata_show_in_identification(api: Client) -> None:
    speaker = api.enroll_speaker("rename-me", A[:2], metadata={"team": "a"})
    other = api.enroll_speaker("rename-taken", B[:1])
    renamed = api.update_speaker(speaker.id, name="Renamed Person", metadata={"team": "b"})
    assert (renamed.name, renamed.metadata, renamed.num_samples) == (
        "Renamed Person",
        {"team": "b"},
        2,
    )
    assert api.speaker(speaker.id).name == "Renamed Person"
    found = api.identify_speaker(A[7], speaker_ids=[speaker.id, other.id])
    assert found.speaker is not None and found.speaker.name == "Renamed Person"
    assert api.update_speaker(speaker.id, metadata={}).name == "Renamed Person"  # name kept
    with pytest.raises(Conflict, match="already exists"):
        api.update_speaker(speaker.id, name="RENAME-TAKEN")  # ignoring case
    assert api.update_speaker(speaker.id, name="renamed person").name == "renamed person"
    with pytest.raises(InvalidParameter) as blank:
        api.update_speaker(speaker.id, name="   ")
    assert blank.value.param == "name"
    with pytest.raises(ResourceNotFound):
        api.update_speaker("spk_missing", name="x")
    response = api._http.patch(f"/v1/speakers/{speaker.id}", json={"metadata": [1, 2]})
    assert response.status_code == 400 and response.json()["error"]["message"]
    huge = api._http.patch(f"/v1/speakers/{speaker.id}", json={"metadata": {"x": "a" * 20_000}})
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "metadata"
    assert api.speaker(speaker.id).metadata == {}  # nothing half-applied


@pytest.mark.parametrize(
    "fields", [{"top_k": "0"}, {"top_k": "101"}, {"threshold": "-2"}, {"speaker_ids": " , "}]
)
def test_identify_bad_parameters(api: Client, fields: dict) -> None:
    response = api._http.post(
        "/v1/speakers/identify", files={"file": ("a.flac", A[0].read_bytes())}, data=fields
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_profiles_survive_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with Client.in_process(settings) as first:
        ada = first.enroll_speaker("Ada", A[:2], metadata={"k": "v"})
        gone = first.enroll_speaker("Gone", B[:1])
        first.delete_speaker(gone.id)
    with Client.in_process(settings) as second:
        assert [s.id for s in second.speakers()] == [ada.id]
        assert second.speaker(ada.id) == ada
        match = second.identify_speaker(A[8])
        assert match.speaker is not None and match.speaker.speaker_id == ada.id
        with pytest.raises(ResourceNotFound):
            second.speaker(gone.id)
        with pytest.raises(Conflict):
            second.enroll_speaker("ada", A[3])


# -- hostile files, for every endpoint that takes audio ---------------------------------------


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_embed(api: Client, case: dict) -> None:
    response = check_bad_audio(api, "/v1/speakers/embed", case)
    if response.status_code == 200:
        assert abs(np.linalg.norm(response.json()["embedding"]) - 1.0) < 1e-4


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_enroll(api: Client, case: dict) -> None:
    check_bad_audio(api, "/v1/speakers", case, {"name": f"hostile {case['file']}"})


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_samples(api: Client, trio: list[Speaker], case: dict) -> None:
    before = api.speaker(trio[2].id).num_samples
    response = check_bad_audio(api, f"/v1/speakers/{trio[2].id}/samples", case)
    expected = before + 1 if response.status_code == 200 else before
    assert api.speaker(trio[2].id).num_samples == expected


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_verify(api: Client, trio: list[Speaker], case: dict) -> None:
    check_bad_audio(api, "/v1/speakers/verify", case, {"speaker_id": trio[0].id})


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_verify_second_file(api: Client, eval_dir: Path, case: dict) -> None:
    reference = (eval_dir / "bad_inputs" / "speech.ogg").read_bytes()
    response = check_bad_audio(
        api,
        "/v1/speakers/verify",
        case,
        file_field="file2",
        extra_files={"file": ("reference.ogg", reference)},
    )
    if response.status_code == 200 and "same words" in case["why"]:
        assert response.json()["same_speaker"], response.text  # the same reader


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_identify(api: Client, trio: list[Speaker], case: dict) -> None:
    check_bad_audio(api, "/v1/speakers/identify", case)


def test_enroll_refuses_more_than_max_request_files(api: Client, eval_dir: Path) -> None:
    clip = (eval_dir / "bad_inputs" / "speech.ogg").read_bytes()
    count = services_of(api).settings.max_request_files + 1
    files = [("file", (f"{i}.ogg", clip)) for i in range(count)]
    response = api._http.post("/v1/speakers", files=files, data={"name": "too many"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "file"
    assert "TYMPAN_MAX_REQUEST_FILES" in response.json()["error"]["message"]
    assert "too many" not in {s.name for s in api.speakers()}
