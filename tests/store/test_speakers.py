"""The speaker store: persistence, incremental voiceprints, unique names, real deletion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from tympan.errors import Conflict, InvalidParameter, ResourceNotFound
from tympan.store.db import Database
from tympan.store.speakers import SpeakerRow, SpeakerSampleRow, SpeakerStore, speaker_store
from tympan.tasks.speakers import SampleEmbedding, l2_normalise

RNG = np.random.default_rng(7)


def _sample(vector: np.ndarray | None = None) -> SampleEmbedding:
    vector = l2_normalise(RNG.standard_normal(16) if vector is None else vector)
    return SampleEmbedding(vector.astype(np.float32), 2.5, "x.wav")


def test_create_get_list_and_reopen(db: Database, tmp_path: Path) -> None:
    store = SpeakerStore(db)
    created = store.create("Ada", "m", [_sample(), _sample()], {"team": "audio"})
    assert created.num_samples == 2 and created.speech_seconds == 5.0
    assert created.metadata == {"team": "audio"} and created.created_at.tzinfo is not None
    reopened = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        again = SpeakerStore(reopened)
        assert again.get(created.id) == created
        assert [s.id for s in again.list()] == [created.id]
    finally:
        reopened.close()


def test_voiceprint_updates_incrementally(db: Database) -> None:
    store = SpeakerStore(db)
    first, second, third = (_sample() for _ in range(3))
    speaker = store.create("Ben", "m", [first])
    np.testing.assert_allclose(store.voiceprint(speaker.id), first.embedding, atol=1e-6)
    updated = store.add_samples(speaker.id, [second, third])
    expected = l2_normalise(first.embedding + second.embedding + third.embedding)
    np.testing.assert_allclose(store.voiceprint(speaker.id), expected, atol=1e-6)
    assert updated.num_samples == 3 and updated.updated_at >= speaker.updated_at


def test_names_are_unique_ignoring_case_and_validated(db: Database) -> None:
    store = SpeakerStore(db)
    store.create("Cleo", "m", [_sample()])
    with pytest.raises(Conflict):
        store.create("  cLEO ", "m", [_sample()])
    for bad in ["", "   ", "x" * 201]:
        with pytest.raises(InvalidParameter):
            store.create(bad, "m", [_sample()])
    assert len(store.list()) == 1


def test_delete_removes_rows_and_bytes(db: Database, tmp_path: Path) -> None:
    store = SpeakerStore(db)
    marker = np.full(16, 0.25, np.float32)  # a recognisable byte pattern
    speaker = store.create("Dora", "m", [SampleEmbedding(marker, 1.0)])
    store.delete(speaker.id)
    with pytest.raises(ResourceNotFound):
        store.get(speaker.id)
    with db.session() as session:
        left = session.scalar(select(func.count()).where(SpeakerSampleRow.speaker_id == speaker.id))
    assert left == 0
    files = b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite*"))
    assert marker.tobytes() not in files
    with pytest.raises(ResourceNotFound):
        store.delete(speaker.id)


def test_index_is_one_matrix_per_model_and_follows_changes(db: Database) -> None:
    store = speaker_store(db)
    assert speaker_store(db) is store
    a = store.create("Eve", "m", [_sample()])
    b = store.create("Finn", "m", [_sample()])
    store.create("Gus", "other-model", [_sample()])
    index = store.index("m")
    assert index.ids == [a.id, b.id] and index.matrix.shape == (2, 16)
    assert store.index("m") is index  # cached while nothing changes
    store.delete(a.id)
    assert store.index("m").ids == [b.id]
    subset = store.index("m", [b.id, b.id])
    assert subset.ids == [b.id]
    with pytest.raises(ResourceNotFound):
        store.index("m", ["spk_missing"])
    with pytest.raises(InvalidParameter):
        store.index("other-model", [b.id])


def test_samples_added_by_two_processes_at_once_are_all_counted(
    any_db: Database, tmp_path: Path
) -> None:
    """Two real processes add samples to one speaker; no running-sum update is lost."""
    from tests.store.conftest import url_of
    from tests.store.racing import race

    db = any_db
    start = np.full(4, 0.5, np.float32)
    speaker = SpeakerStore(db).create("Race", "m", [SampleEmbedding(start, 1.0, None)])
    rounds = 25
    race("samples", url_of(db), tmp_path, [speaker.id] * 2, rounds)
    store = SpeakerStore(db)
    assert store.get(speaker.id).num_samples == 1 + 2 * rounds
    with db.session() as session:
        rows = session.scalar(
            select(func.count(SpeakerSampleRow.id)).where(SpeakerSampleRow.speaker_id == speaker.id)
        )
        total = np.frombuffer(session.get(SpeakerRow, speaker.id).embedding_sum, np.float32)
    assert rows == 1 + 2 * rounds
    expected = start + 2 * sum(range(1, rounds + 1))  # each racer adds 1, 2, ..., rounds
    np.testing.assert_allclose(total, expected, rtol=1e-6)


def test_namespaces_hold_separate_speakers_and_indexes(db: Database) -> None:
    store = SpeakerStore(db)
    voice = _sample()
    mine = store.create("Ada", "m", [voice], namespace="teamA")
    theirs = store.create("ada", "m", [_sample()], namespace="teamB")  # same name, other team
    with pytest.raises(Conflict):
        store.create("ADA", "m", [_sample()], namespace="teamA")
    assert [s.id for s in store.list("teamA")] == [mine.id] and store.list() == []
    for call in (store.get, store.voiceprint, store.model_of, store.delete):
        with pytest.raises(ResourceNotFound):
            call(mine.id, "teamB")
    with pytest.raises(ResourceNotFound):
        store.add_samples(mine.id, [_sample()], "teamB")
    with pytest.raises(ResourceNotFound):
        store.index("m", [mine.id], "teamB")
    assert store.index("m", namespace="teamA").ids == [mine.id]
    assert store.index("m", namespace="teamB").ids == [theirs.id]
    assert store.index("m").ids == []
    assert store.get(mine.id, "teamA").num_samples == 1  # untouched by the other team


def test_longest_names_and_filenames_fit_every_backend(any_db: Database) -> None:
    """A 200-character name whose casefold triples ('ﬃ' -> 'ffi') and a 600-character filename."""
    store = SpeakerStore(any_db)
    name = "ﬃ" * 200
    long_file = SampleEmbedding(_sample().embedding, 1.0, "a" * 600 + ".wav")
    created = store.create(name, "m", [long_file])
    assert created.name == name and store.get(created.id).name == name
    with pytest.raises(Conflict):
        store.create(name, "m", [_sample()])
    store.add_samples(created.id, [long_file])
    assert store.get(created.id).num_samples == 2
