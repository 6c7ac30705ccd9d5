"""``arch=multimodal`` through ``/v1/classifiers``: train, report, predict with the transcript."""

from __future__ import annotations

import pytest

from tests.classifier_data import ravdess_sentences
from tests.conftest import EVAL_DIR, services_of
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio, db_fingerprint
from tympan.errors import InvalidParameter
from tympan.metrics import ASR_AUDIO_SECONDS
from tympan.tasks.classifiers.transcripts import TRANSCRIPT_MODEL_ID

NAME = "sentences"
CLIPS = EVAL_DIR / "emotion" / "audio"


@pytest.fixture(scope="module")
def trained(api, tmp_path_factory) -> dict:
    """ "Kids..." / "Dogs..." from 4 actors (neutral, angry): 16 clips, the actor as speaker."""
    data = ravdess_sentences(
        tmp_path_factory.mktemp("sentences"), (1, 2, 3, 4), ("neutral", "angry")
    )
    job = api.train_classifier(NAME, data, arch="multimodal", max_epochs=15, augment_copies=0)
    return api.wait_job(job["id"], poll=0.2)


def test_training_records_a_multimodal_version_with_each_branch(api, trained) -> None:
    result = trained["result"]
    assert result["arch"] == "multimodal" and result["labels"] == ["dogs", "kids"]
    metrics = result["metrics"]
    assert metrics["split"] == "speaker-disjoint"
    assert 0 <= metrics["audio_only_accuracy"] <= 1 and metrics["text_only_accuracy"] >= 0.75
    (version,) = api.classifier_versions(NAME)
    assert {"model.onnx", "text_features.json", "report.json"} <= set(version["artifacts"])
    report = api.classifier_report(NAME, 1)
    assert report["arch"] == "multimodal"
    assert report["multimodal"]["fused_accuracy"] == metrics["accuracy"]
    markdown = api.classifier_report(NAME, 1, format="markdown")
    assert (
        "Multimodal:" in markdown and "| text only |" in markdown and "| audio only |" in markdown
    )
    page = api.classifier_report(NAME, format="html")
    assert "Multimodal: audio and transcript" in page and "<td>fused (served)</td>" in page


@pytest.mark.parametrize(
    ("clip", "label"), [("03-01-05-01-01-01-09", "kids"), ("03-01-05-02-02-01-09", "dogs")]
)
def test_predict_returns_the_fused_label_and_the_transcript(api, trained, clip, label) -> None:
    queued = ASR_AUDIO_SECONDS.labels(TRANSCRIPT_MODEL_ID)._value.get()
    prediction = api.predict(NAME, CLIPS / f"{clip}.flac", top_k=2)
    # The clip went through the ASR model's batching queue (the one transcriptions use).
    assert ASR_AUDIO_SECONDS.labels(TRANSCRIPT_MODEL_ID)._value.get() > queued
    assert prediction.transcript is not None and "door" in prediction.transcript.lower()
    assert prediction.label == label and len(prediction.top) == 2


def test_the_json_answer_carries_the_transcript(api, trained) -> None:
    response = api._http.post(
        f"/v1/classifiers/{NAME}/predict",
        files={"file": ("clip.flac", (CLIPS / "03-01-01-01-01-01-09.flac").read_bytes())},
    )
    assert response.status_code == 200 and "door" in response.json()["transcript"].lower()


def test_detect_is_refused_with_a_400(api, trained) -> None:
    response = api._http.post(
        f"/v1/classifiers/{NAME}/detect",
        files={"file": ("clip.flac", (CLIPS / "03-01-01-01-01-01-09.flac").read_bytes())},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_operation" and "multimodal" in error["message"]


def test_examples_are_transcribed_into_a_new_version(api, trained) -> None:
    clips = [CLIPS / f"03-01-0{emotion}-01-01-01-10.flac" for emotion in (1, 5)]
    result = api.add_examples(NAME, "kids", clips)
    assert result.version == 2 and result.labels == ["dogs", "kids"]
    assert "text_features.json" in api.classifier_versions(NAME)[-1]["artifacts"]
    prediction = api.predict(NAME, CLIPS / "03-01-05-01-01-01-09.flac", version=2)
    assert prediction.transcript and prediction.model == f"{NAME}:2"


def test_a_misspelt_arch_is_a_400_that_changes_nothing(api, trained) -> None:
    data = ravdess_sentences(services_of(api).settings.data_dir / "bad-arch", (1, 2), ("neutral",))
    before = db_fingerprint(services_of(api).db)
    with pytest.raises(InvalidParameter) as info:
        api.train_classifier("typo", data, arch="multimodel")
    assert info.value.param == "arch"
    assert db_fingerprint(services_of(api).db) == before


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_audio_on_multimodal_predict(api, trained, case) -> None:
    """Hostile files get the manifest's outcome; accepted ones (tiny, silent) still answer
    with a transcript, empty where there are no words."""
    response = check_bad_audio(api, f"/v1/classifiers/{NAME}/predict", case)
    if response.status_code == 200:
        assert isinstance(response.json()["transcript"], str)
