"""``/v1/classifiers`` end to end on real spoken digits: train, report, serve, update, stage."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import EVAL_DIR, Client, make_settings, read_manifest, services_of
from tests.hostile import BAD_AUDIO_CASES, BAD_DATASET_CASES, check_bad_audio, db_fingerprint
from tympan.audio import decode_audio
from tympan.errors import Conflict, InvalidDataset, InvalidParameter, ResourceNotFound
from tympan.tasks.classifiers.dataset import zip_dataset

FSDD = EVAL_DIR / "fsdd"
DIGITS, SPEAKERS = ("0", "1", "2"), ("jackson", "theo", "george")
NAME = "digits"


def _subset(tmp: Path, digits=DIGITS, speakers=SPEAKERS, per=8) -> Path:
    """A manifest over real FSDD clips (indices < per), written beside copies of them."""
    rows = [
        row
        for row in read_manifest("fsdd")
        if row["label"] in digits
        and row["speaker"] in speakers
        and int(Path(row["audio"]).stem.rsplit("_", 1)[1]) < per
    ]
    lines = ["path,label,speaker"]
    for row in rows:
        target = tmp / row["audio"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((FSDD / row["audio"]).read_bytes())
        lines.append(f"{row['audio']},{row['label']},{row['speaker']}")
    (tmp / "manifest.csv").write_text("\n".join(lines) + "\n")
    return tmp


def _train(api: Client, name: str, data: Path | bytes, **options) -> dict:
    job = api.train_classifier(name, data, **options)
    assert job["status"] in ("queued", "running", "succeeded")
    seen: list[float] = []
    done = api.wait_job(job["id"], poll=0.2, on_progress=lambda f, _: seen.append(f))
    assert seen == sorted(seen), "progress went backwards"
    return done


@pytest.fixture(scope="module")
def trained(api, tmp_path_factory) -> dict:
    data = _subset(tmp_path_factory.mktemp("digits"))
    return _train(api, NAME, data, max_epochs=25, augment_copies=0)


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return buffer.getvalue()


def test_training_creates_an_evaluated_version(api, trained) -> None:
    result = trained["result"]
    assert result["ref"] == f"{NAME}:1" and result["labels"] == list(DIGITS)
    metrics = result["metrics"]
    assert metrics["split"] == "speaker-disjoint"
    assert metrics["accuracy"] >= 0.8, metrics  # unseen speaker, 16 clips per digit
    (version,) = api.classifier_versions(NAME)
    assert version["stage"] == "staging" and len(version["dataset_fingerprint"]) == 64
    assert {"model.onnx", "network.pt", "report.json", "confusion.png"} <= set(version["artifacts"])
    report = api.classifier_report(NAME, 1)
    assert report["split"]["validation_speakers"] and report["curves"]["validation_loss"]
    assert {row["label"] for row in report["evaluation"]["per_class"]} == set(DIGITS)
    markdown = api.classifier_report(NAME, 1, format="markdown")
    assert "macro-F1" in markdown and "| 0 |" in markdown
    assert api.classifier_file(NAME, 1, "confusion.png").startswith(b"\x89PNG")
    assert any(model["id"] == f"{NAME}:1" for model in api.models("audio-classification"))


def test_report_page_shows_curves_confusion_classes_and_plays_mistakes(api, trained) -> None:
    report = api.classifier_report(NAME, 1)
    confusion = np.array(report["evaluation"]["confusion"])
    wrong = int(confusion.sum() - np.trace(confusion))
    clips = report["misclassified"]
    assert len(clips) == min(wrong, 12)
    page = api.classifier_report(NAME, format="html")  # the served version's page
    assert page.startswith("<!doctype html>") and "Per class" in page
    base = f"/v1/classifiers/{NAME}/versions/1/"
    for image in ("curves.png", "confusion.png"):
        assert f'src="{base}{image}"' in page
        assert api._http.get(base + image).content.startswith(b"\x89PNG")
    for label in DIGITS:
        assert f"<tr><td>{label}</td>" in page
    assert page.count("<audio controls") == len(clips)
    for index, clip in enumerate(clips):
        assert f'src="{base}misclassified/{index}"' in page
        assert clip["label"] != clip["predicted"]
        played = api._http.get(f"{base}misclassified/{index}")
        assert played.status_code == 200 and played.content == (FSDD / clip["source"]).read_bytes()
    missing = api._http.get(f"{base}misclassified/{len(clips)}")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "index"
    assert api._http.get(f"{base}misclassified/x").status_code == 400


def test_predict_unseen_speaker(api, trained) -> None:
    hits = 0
    for digit in DIGITS:
        prediction = api.predict(NAME, FSDD / "audio" / f"{digit}_nicolas_0.flac", top_k=2)
        assert (
            len(prediction.top) == 2
            and prediction.top[0].probability >= prediction.top[1].probability
        )
        hits += prediction.label == digit
    assert hits >= 2


def test_detect_finds_digits_in_order(api, trained) -> None:
    clips = [decode_audio(FSDD / "audio" / f"{d}_jackson_30.flac").samples for d in ("2", "0", "1")]
    gap = np.zeros(12000, np.float32)
    recording = np.concatenate([gap, clips[0], gap, clips[1], gap, clips[2], gap])
    result = api.detect(NAME, _wav(recording))
    assert [event.label for event in result.events] == ["2", "0", "1"], result
    starts = [event.start for event in result.events]
    expected = [0.75, 0.75 * 2 + len(clips[0]) / 16000]
    assert abs(starts[0] - expected[0]) < 0.3 and abs(starts[1] - expected[1]) < 0.3
    assert result.speech_seconds < result.duration / 2


def test_detect_windows_budget(api, trained, monkeypatch) -> None:
    """30 s of conversation at a digit-sized window: more windows than the budget is refused
    (413) before any is scored; with room, it is answered (the windows scored in batches)."""
    services = services_of(api)
    data = _wav(decode_audio(EVAL_DIR / "diarization" / "sample.wav").samples)
    monkeypatch.setattr(services.settings, "max_detect_windows", 5)
    before = db_fingerprint(services.db)
    url = f"/v1/classifiers/{NAME}/detect"
    response = api._http.post(url, files={"file": ("talk.wav", data)}, data={"version": 1})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded" and "TYMPAN_MAX_DETECT_WINDOWS" in error["message"]
    assert db_fingerprint(services.db) == before
    monkeypatch.setattr(services.settings, "max_detect_windows", 100_000)
    answered = api._http.post(url, files={"file": ("talk.wav", data)}, data={"version": 1})
    assert answered.status_code == 200 and answered.json()["speech_seconds"] > 10


def test_examples_files_x_seconds_budget(api, trained, monkeypatch) -> None:
    services = services_of(api)
    monkeypatch.setattr(services.settings, "max_request_audio_seconds", 1.0)
    before = (db_fingerprint(services.db), len(api.classifier_versions(NAME)))
    files = [
        ("files", (f"{i}.flac", (FSDD / "audio" / f"8_jackson_{i}.flac").read_bytes()))
        for i in range(5)
    ]
    response = api._http.post(
        f"/v1/classifiers/{NAME}/examples", files=files, data={"label": "8", "version": 1}
    )
    assert response.status_code == 413, response.text
    assert "TYMPAN_MAX_REQUEST_AUDIO_SECONDS" in response.json()["error"]["message"]
    assert (db_fingerprint(services.db), len(api.classifier_versions(NAME))) == before


def test_add_a_new_class_online(api, trained) -> None:
    before = len(api.classifier_versions(NAME))
    files = [FSDD / "audio" / f"7_jackson_{index}.flac" for index in range(5)]
    result = api.add_examples(NAME, "7", files)
    assert result.new_label and result.labels == [*DIGITS, "7"]
    assert result.version == before + 1
    assert result.old_accuracy_after >= result.old_accuracy_before - 0.1
    versions = api.classifier_versions(NAME)
    assert versions[-1]["parent_version"] == versions[-2]["version"]
    hits = sum(
        api.predict(NAME, FSDD / "audio" / f"7_jackson_{i}.flac", version=result.version).label
        == "7"
        for i in (20, 21, 22)
    )
    assert hits >= 2
    # the old version still answers with its own labels
    assert api.predict(NAME, files[0], version=1).label in DIGITS


def test_promote_and_rollback_move_the_alias(api, trained) -> None:
    versions = [v["version"] for v in api.classifier_versions(NAME)]
    assert len(versions) >= 2
    first, last = versions[0], versions[-1]
    assert api.promote_classifier(NAME, first)["stage"] == "production"
    assert api.promote_classifier(NAME, last)["stage"] == "production"
    assert api.predict(NAME, FSDD / "audio" / "1_theo_3.flac").model == f"{NAME}:{last}"
    restored = api.rollback_classifier(NAME)
    assert restored["version"] == first and restored["stage"] == "production"
    stages = {v["version"]: v["stage"] for v in api.classifier_versions(NAME)}
    assert stages[last] == "archived"
    served = [m for m in api.models("audio-classification") if NAME in m["aliases"]]
    assert [m["id"] for m in served] == [f"{NAME}:{first}"]
    listing = {row["name"]: row for row in api.classifiers()}
    assert listing[NAME]["served"] == f"{NAME}:{first}"


def test_versions_survive_a_restart(api, trained) -> None:
    settings = services_of(api).settings
    with Client.in_process(settings) as again:
        ids = {model["id"] for model in again.models("audio-classification")}
        assert f"{NAME}:1" in ids
        assert again.predict(NAME, FSDD / "audio" / "0_theo_1.flac", version=1).label in DIGITS


def test_rollback_without_history_is_409(api, trained, tmp_path) -> None:
    settings = make_settings(tmp_path)
    with Client.in_process(settings) as fresh, pytest.raises(ResourceNotFound):
        fresh.rollback_classifier(NAME)
    with pytest.raises(Conflict):  # the promote/rollback test left one production version
        api.rollback_classifier(NAME)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda api: api.predict("nope", FSDD / "audio" / "0_theo_1.flac"), ResourceNotFound),
        (
            lambda api: api.predict(NAME, FSDD / "audio" / "0_theo_1.flac", version=99),
            ResourceNotFound,
        ),
        (lambda api: api.detect("nope", FSDD / "audio" / "0_theo_1.flac"), ResourceNotFound),
        (lambda api: api.classifier_versions("nope"), ResourceNotFound),
        (lambda api: api.classifier_report(NAME, 99), ResourceNotFound),
        (lambda api: api.promote_classifier(NAME, 99), ResourceNotFound),
        (lambda api: api.promote_classifier(NAME, 1, "heaven"), InvalidParameter),
        (
            lambda api: api.add_examples("nope", "x", [FSDD / "audio" / "0_theo_1.flac"]),
            ResourceNotFound,
        ),
        (
            lambda api: api.add_examples(NAME, " ", [FSDD / "audio" / "0_theo_1.flac"]),
            InvalidParameter,
        ),
        (
            lambda api: api.predict(NAME, FSDD / "audio" / "0_theo_1.flac", top_k=0),
            InvalidParameter,
        ),
    ],
)
def test_bad_requests(api, trained, call, error) -> None:
    before = db_fingerprint(services_of(api).db)
    with pytest.raises(error) as info:
        call(api)
    assert info.value.message
    assert db_fingerprint(services_of(api).db) == before


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"name": "bad name!"}, "name"),
        ({"name": "x", "arch": "quantum"}, "arch"),
        ({"name": "x", "max_epochs": 0}, "max_epochs"),
        ({"name": "x", "dropout": 1.5}, "dropout"),
        ({"name": "x", "validation_fraction": 0.9}, "validation_fraction"),
        ({"name": "x", "augment": "rooms"}, "augment"),
        ({"name": "x", "refit": "perhaps"}, "refit"),
        ({"name": "x", "encoder_layers": "5"}, "encoder_layers"),
        ({"name": "x", "encoder_layers": "middle"}, "encoder_layers"),
        ({"name": "x", "mixup": 2}, "mixup"),
    ],
)
def test_bad_training_parameters_get_400(api, tmp_path, eval_dir, fields, param) -> None:
    data = zip_dataset(_subset(tmp_path, per=2, speakers=("theo",)))
    response = api._http.post(
        "/v1/classifiers", data=fields, files={"dataset": ("d.zip", data, "application/zip")}
    )
    assert response.status_code == 400, response.text
    assert param in response.json()["error"]["param"]


def test_training_needs_exactly_one_source(api) -> None:
    response = api._http.post("/v1/classifiers", data={"name": "x"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "dataset"


def _artifact_and_work_state(api) -> tuple[str, list[str], list[str]]:
    services = services_of(api)
    artifacts = sorted(p.name for p in (services.artifacts.root / "classifiers").glob("*"))
    work = services.jobs.work
    return db_fingerprint(services.db), artifacts, sorted(p.name for p in work.glob("*"))


@pytest.mark.parametrize("problem", ["one_class", "singleton"])
def test_structurally_bad_datasets_get_a_report(api, tmp_path, problem) -> None:
    digits = ("4",) if problem == "one_class" else ("4", "5")
    root = _subset(tmp_path, digits=digits, speakers=("theo",), per=3)
    if problem == "singleton":
        (root / "manifest.csv").write_text(
            "path,label\n" + "".join(f"{p},{'4' if i else '9'}\n" for i, p in enumerate(
                sorted(str(f.relative_to(root)) for f in root.rglob("*.flac"))
            ))
        )  # fmt: skip
    before = _artifact_and_work_state(api)
    with pytest.raises(InvalidDataset) as info:
        api.train_classifier("bad", root)
    expected = "only one class" if problem == "one_class" else "fewer than 2 examples: 9"
    assert expected in info.value.message
    assert _artifact_and_work_state(api) == before


def test_unreadable_files_fail_the_job_cleanly(api, tmp_path) -> None:
    root = _subset(tmp_path, digits=("4", "5"), speakers=("theo",), per=3)
    bad = EVAL_DIR / "bad_inputs"
    (root / "audio" / "broken.flac").write_bytes((bad / "truncated.flac").read_bytes())
    with (root / "manifest.csv").open("a") as handle:
        handle.write("audio/broken.flac,4,theo\n")
    _, artifacts, work = _artifact_and_work_state(api)
    job = api.train_classifier("unreadable", root)
    with pytest.raises(InvalidDataset) as info:
        api.wait_job(job["id"], poll=0.2)
    assert "broken.flac" in info.value.message and "1 of 7" in info.value.message
    assert api.job(job["id"])["status"] == "failed"
    assert job["id"] in {j["id"] for j in api.jobs(status="failed", limit=100)}
    assert job["id"] not in {j["id"] for j in api.jobs(status="succeeded", limit=100)}
    newest = api.jobs(limit=1)
    assert len(newest) == 1 and newest[0]["created_at"] >= api.job(job["id"])["created_at"]
    with pytest.raises(ResourceNotFound):
        api.classifier_versions("unreadable")
    _, artifacts_after, work_after = _artifact_and_work_state(api)
    assert (artifacts_after, work_after) == (artifacts, work)


@pytest.mark.parametrize("case", BAD_DATASET_CASES)
def test_hostile_datasets(api, case) -> None:
    before = _artifact_and_work_state(api)[1:]
    check_bad_audio(api, "/v1/classifiers", case, {"name": "hostile"}, file_field="dataset")
    assert _artifact_and_work_state(api)[1:] == before
    assert not Path("/tmp/evil.wav").exists()


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
@pytest.mark.parametrize("endpoint", ["predict", "detect"])
def test_bad_audio_on_serving(api, trained, case, endpoint) -> None:
    response = check_bad_audio(api, f"/v1/classifiers/{NAME}/{endpoint}", case, {"version": 1})
    if response.status_code == 200 and endpoint == "predict":
        assert response.json()["label"] in DIGITS


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_audio_on_examples(api, trained, case) -> None:
    check_bad_audio(
        api, f"/v1/classifiers/{NAME}/examples", case, {"label": "9", "version": 1},
        file_field="files",
    )  # fmt: skip


def test_middle_encoder_layers_serve_what_they_were_validated_on(api, tmp_path) -> None:
    """A version pooling layers 1 and 3 averaged beside the last (no refit, so the served
    network is the one validated) answers each validation clip through the API as its report
    scored it."""
    data = _subset(tmp_path, digits=("2", "5"), per=4)
    name = "layers-digits"
    done = _train(
        api, name, data, encoder_layers="1+3,last", refit=False, augment_copies=0, max_epochs=8
    )
    assert done["status"] == "succeeded", done.get("error")
    (version,) = api.classifier_versions(name)
    assert version["config"]["encoder_layers"] == "1+3,last"
    report = api.classifier_report(name, 1)
    labels = done["result"]["labels"]
    held = set(report["split"]["validation_speakers"])
    confusion = np.zeros((len(labels), len(labels)), int)
    for line in (data / "manifest.csv").read_text().splitlines()[1:]:
        clip, label, speaker = line.split(",")
        if speaker in held:
            predicted = api.predict(name, data / clip).label
            confusion[labels.index(label), labels.index(predicted)] += 1
    assert confusion.sum() == report["split"]["validation"]
    assert confusion.tolist() == report["evaluation"]["confusion"]


def test_cnn_architecture_trains_and_serves(api, tmp_path) -> None:
    data = _subset(tmp_path, digits=("3", "6"), speakers=("jackson", "theo"), per=6)
    done = _train(api, "cnn-digits", data, arch="cnn", max_epochs=3, quantize=True)
    metrics = done["result"]["metrics"]
    assert "int8_accuracy_change" in metrics and 0 <= metrics["int8_accuracy"] <= 1
    versions = api.classifier_versions("cnn-digits")
    assert "model.int8.onnx" in versions[0]["artifacts"]
    prediction = api.predict("cnn-digits", FSDD / "audio" / "3_jackson_40.flac")
    assert prediction.label in ("3", "6") and len(prediction.top) == 2
    result = api.add_examples(
        "cnn-digits", "8", [FSDD / "audio" / f"8_theo_{i}.flac" for i in range(3)]
    )
    assert result.labels == ["3", "6", "8"]
