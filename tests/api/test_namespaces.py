"""Two teams on one server: each key's namespace holds its own speakers and classifiers.

A real server on loopback, the SDK with each team's key, real LibriSpeech voices, the pyannote
sample and a real (small) classifier trained on FSDD digits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.classifier_data import fsdd_subset
from tests.conftest import EVAL_DIR, make_settings
from tests.hostile import db_fingerprint
from tests.live_server import serve_in_thread
from tests.speaker_data import DIARIZATION_DIR, SAMPLE_TURNS, utterances, write_spans
from tympan.client import Client
from tympan.errors import Conflict, ModelNotFound, ResourceNotFound
from tympan.store.db import Database
from tympan.tasks.classifiers.dataset import zip_dataset

KEYS = "a-key:admin@teamA,b-key:admin@teamB,b-tx:transcribe@teamB,plain"
SAMPLE = DIARIZATION_DIR / "sample.wav"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    settings = make_settings(tmp_path_factory.mktemp("teams"), api_keys=KEYS)
    with serve_in_thread(settings) as url:
        db = Database(settings.resolved_database_url)
        yield url, db
        db.close()


@pytest.fixture(scope="module")
def teams(server) -> Iterator[tuple[Client, Client]]:
    url, _ = server
    with Client(url, "a-key") as team_a, Client(url, "b-key") as team_b:
        yield team_a, team_b


def test_speakers_are_private_to_their_namespace(server, teams) -> None:
    _, db = server
    team_a, team_b = teams
    voices = utterances()
    first, second = sorted(voices)[:2]
    alice_a = team_a.enroll_speaker("Alice", voices[first][:2])
    alice_b = team_b.enroll_speaker("alice", voices[second][:2])  # same name, other team: fine
    with pytest.raises(Conflict):
        team_a.enroll_speaker("ALICE", voices[first][2])
    assert [s.id for s in team_a.speakers()] == [alice_a.id]
    assert [s.id for s in team_b.speakers()] == [alice_b.id]
    with Client(server[0], "plain") as default:
        assert default.speakers() == []

    before = db_fingerprint(db)
    for attempt in (
        lambda: team_b.speaker(alice_a.id),
        lambda: team_b.delete_speaker(alice_a.id),
        lambda: team_b.add_speaker_samples(alice_a.id, voices[first][3]),
        lambda: team_b.verify_speaker(voices[first][4], speaker_id=alice_a.id),
        lambda: team_b.identify_speaker(voices[first][4], speaker_ids=[alice_a.id]),
    ):
        with pytest.raises(ResourceNotFound):
            attempt()
    assert db_fingerprint(db) == before  # nothing written by the other team
    assert team_a.speaker(alice_a.id).num_samples == 2

    heard = voices[first][5]  # team A's voice, heard by both teams
    assert team_a.identify_speaker(heard).speaker.speaker_id == alice_a.id
    ranking = team_b.identify_speaker(heard, threshold=-1.0).ranking
    assert {candidate.speaker_id for candidate in ranking} == {alice_b.id}
    with Client(server[0], "b-tx") as transcriber:  # a transcribe key of team B: same view
        assert {c.speaker_id for c in transcriber.identify_speaker(heard).ranking} <= {alice_b.id}


def test_diarization_and_transcripts_name_only_the_callers_speakers(teams, tmp_path) -> None:
    team_a, team_b = teams
    enrolled = [
        team_a.enroll_speaker(name, write_spans(SAMPLE, spans, tmp_path / f"{name}.wav"))
        for name, spans in SAMPLE_TURNS.items()
    ]
    try:
        assert {s.name for s in team_a.diarize(SAMPLE).speakers} == set(SAMPLE_TURNS)
        assert all(s.name is None for s in team_b.diarize(SAMPLE).speakers)
        ids = {speaker.id for speaker in enrolled}
        named = team_a.transcribe(SAMPLE, diarize=True).segments  # ASR's diarize=true too
        assert {s.speaker_id for s in named} & ids
        anonymous = team_b.transcribe(SAMPLE, diarize=True).segments
        assert anonymous and all(s.speaker_id is None for s in anonymous)
    finally:
        for speaker in enrolled:
            team_a.delete_speaker(speaker.id)


def _digits(tmp: Path) -> Path:
    """Two FSDD digits by two speakers, four clips each (copied next to a manifest)."""
    return fsdd_subset(tmp, ("0", "1"), ("jackson", "theo"), 4)


def test_classifiers_are_private_to_their_namespace(server, teams, tmp_path) -> None:
    _, db = server
    team_a, team_b = teams
    data = zip_dataset(_digits(tmp_path))
    job = team_a.train_classifier("digits", data, arch="cnn", max_epochs=3, augment_copies=0)
    assert team_a.wait_job(job["id"], poll=0.2)["status"] == "succeeded"
    with pytest.raises(ResourceNotFound):  # the job, its labels and metrics are A's too
        team_b.job(job["id"])
    assert job["id"] in {j["id"] for j in team_a.jobs()}
    assert job["id"] not in {j["id"] for j in team_b.jobs()}
    clip = EVAL_DIR / "fsdd" / "audio" / "1_theo_9.flac"
    assert team_a.predict("digits", clip).label in ("0", "1")
    assert [c["name"] for c in team_a.classifiers()] == ["digits"]
    assert "digits:1" in {m["id"] for m in team_a.models(task="audio-classification")}

    before = db_fingerprint(db)
    assert team_b.classifiers() == []
    assert not {m["id"] for m in team_b.models(task="audio-classification")}
    with pytest.raises(ModelNotFound):
        team_b.request("GET", "/v1/models/digits:1")
    for attempt in (
        lambda: team_b.classifier_versions("digits"),
        lambda: team_b.classifier_report("digits"),
        lambda: team_b.classifier_file("digits", 1, "report.md"),
        lambda: team_b.predict("digits", clip),
        lambda: team_b.detect("digits", clip),
        lambda: team_b.promote_classifier("digits", 1),
        lambda: team_b.rollback_classifier("digits"),
        lambda: team_b.add_examples("digits", "2", [clip, clip]),
    ):
        with pytest.raises(ResourceNotFound):
            attempt()
    with pytest.raises(Conflict, match="taken"):  # refused before any work: no job row
        team_b.train_classifier("digits", data, arch="cnn", max_epochs=1)
    assert db_fingerprint(db) == before
    assert team_a.classifier_versions("digits")[0]["stage"] == "staging"
