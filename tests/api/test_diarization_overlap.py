"""Training the speaker-count model through the API (its own service and data dir, so the
session's diarization tests never see an overlap model), and diarizing with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EVAL_DIR, make_settings
from tests.speaker_data import DIARIZATION_DIR, overlapped_seconds, write_spans
from tympan.client import Client
from tympan.errors import InvalidDataset, InvalidParameter, PermissionDenied

SAMPLE = DIARIZATION_DIR / "sample.wav"


@pytest.fixture(scope="module")
def own_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Path]]:
    """A service that may read the eval data and one temporary dataset folder."""
    scratch = tmp_path_factory.mktemp("overlap-datasets")
    settings = make_settings(
        tmp_path_factory.mktemp("overlap-service"), dataset_roots=[EVAL_DIR, scratch]
    )
    with Client.in_process(settings) as client:
        yield client, scratch


def test_bad_training_requests_are_refused(own_api: tuple[Client, Path]) -> None:
    client, scratch = own_api
    with pytest.raises(PermissionDenied, match="TYMPAN_DATASET_ROOTS"):
        client.train_overlap("/etc")
    with pytest.raises(InvalidDataset, match="no manifest"):
        client.train_overlap(str(EVAL_DIR / "noise" / "audio"))
    with pytest.raises(InvalidParameter, match="steps"):
        client.train_overlap(str(EVAL_DIR / "speakers"), steps=0)
    # one reader only: the job fails, saying why
    with pytest.raises(InvalidDataset, match="at least 4 speakers"):
        client.train_overlap(str(EVAL_DIR / "asr_ljspeech"), steps=2)
    # a manifest without speakers
    folder = scratch / "no-speakers"
    folder.mkdir()
    write_spans(SAMPLE, [(11.0, 14.0)], folder / "a.wav")
    (folder / "manifest.csv").write_text("audio,text\na.wav,hello\n")
    with pytest.raises(InvalidDataset, match="no speaker column"):
        client.train_overlap(str(folder), steps=2)
    assert client.overlap_model() == {
        "model": "overlap-speaker-count",
        "trained": False,
        "report": None,
    }
    assert client.diarize(SAMPLE, identify=False).num_speakers == 2  # still answering


def test_train_then_diarize_with_two_speakers_at_once(own_api: tuple[Client, Path]) -> None:
    client, _ = own_api
    before = client.diarize(SAMPLE, identify=False)
    assert overlapped_seconds(before.segments) == 0.0
    progress: list[float] = []
    job = client.train_overlap(
        str(EVAL_DIR / "speakers"),
        noise_path=str(EVAL_DIR / "noise" / "audio"),
        steps=4,
        on_progress=lambda fraction, _: progress.append(fraction),
    )
    report = job["result"]
    assert report["steps"] == 4 and report["train_speakers"] == 8
    assert report["noise_recordings"] == 27
    assert progress == sorted(progress)
    info = client.overlap_model()
    assert info["trained"] and info["report"]["validation_auc"] == report["validation_auc"]
    assert "overlap-speaker-count" in {m["id"] for m in client.models()}
    after = client.diarize(SAMPLE, identify=False)
    assert after.num_speakers == 2
    off = client.diarize(SAMPLE, identify=False, overlap=False)
    assert off.segments == before.segments
