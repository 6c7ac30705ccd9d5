"""The corrections table on both backends: per namespace and model, oldest first, a
correction counts as unused again when the job that took it failed or was cancelled, and one
a job still trains on cannot be deleted."""

from __future__ import annotations

import pytest

from tympan.errors import Conflict, ResourceNotFound
from tympan.store.corrections import Correction, CorrectionStore, new_correction_id
from tympan.store.db import Database, utc_now
from tympan.store.jobs import JobRow


def _correction(namespace: str, model: str, text: str) -> Correction:
    return Correction(new_correction_id(), namespace, model, text, None, 2.5, None, utc_now())


def _job(db: Database, job_id: str, status: str) -> None:
    with db.session() as session:
        session.add(JobRow(id=job_id, kind="asr-fine-tuning", status=status))


def test_corrections_by_namespace_model_and_use(any_db: Database) -> None:
    store = CorrectionStore(any_db)
    first, second, third = (store.add(_correction("a", "m", t)) for t in ("one", "two", "three"))
    store.add(_correction("a", "other", "four"))
    store.add(_correction("b", "m", "five"))
    assert [c.text for c in store.list("a", "m")] == ["one", "two", "three"]
    assert len(store.list("a")) == 4 and [c.text for c in store.list("b")] == ["five"]
    assert store.count_unused("a", "m") == 3

    _job(any_db, "ftjob-running", "running")
    store.mark_used([first.id, second.id], "ftjob-running")
    assert [c.id for c in store.list("a", "m", unused=True)] == [third.id]
    assert store.count_unused("a", "m") == 1 and store.count_unused("b", "m") == 1
    assert {c.job_id for c in store.list("a", "m")} == {"ftjob-running", None}

    _job(any_db, "ftjob-failed", "failed")
    store.mark_used([first.id], "ftjob-failed")
    assert store.count_unused("a", "m") == 2  # the failed job's correction is free again

    with pytest.raises(ResourceNotFound):
        store.delete(first.id, "b")  # another namespace's
    assert store.delete(first.id, "a").text == "one"
    assert [c.text for c in store.list("a", "m")] == ["two", "three"]
    with pytest.raises(ResourceNotFound):
        store.delete(first.id, "a")


def test_a_correction_in_use_by_an_unfinished_job_is_not_deleted(any_db: Database) -> None:
    store = CorrectionStore(any_db)
    trained, claimed = (store.add(_correction("a", "m", t)) for t in ("one", "two"))
    _job(any_db, "ftjob-training", "running")
    store.mark_used([trained.id], "ftjob-training")
    store.mark_used([claimed.id], "claim-0123")  # a job is being started on it
    for correction, job in ((trained, "ftjob-training"), (claimed, "claim-0123")):
        with pytest.raises(Conflict, match=job) as refused:
            store.delete(correction.id, "a")
        assert refused.value.param == "correction_id"
    assert len(store.list("a", "m")) == 2  # nothing deleted
    with any_db.session() as session:
        session.get(JobRow, "ftjob-training").status = "succeeded"
    assert store.delete(trained.id, "a").text == "one"


def test_held_back_corrections_judge_every_later_job(any_db: Database) -> None:
    """Those a job held back stay the judge while it lives or succeeded; a failed job's come
    back unused, and claiming them again clears the mark."""
    store = CorrectionStore(any_db)
    kept, trained, other_model = (
        store.add(_correction("a", model, text))
        for model, text in (("m", "one"), ("m", "two"), ("x", "three"))
    )
    _job(any_db, "ftjob-done", "succeeded")
    store.mark_used([kept.id, trained.id], "ftjob-done", held_back=[kept.id])
    store.mark_used([other_model.id], "ftjob-done", held_back=[other_model.id])
    assert [c.id for c in store.held_back("a", "m")] == [kept.id]
    assert store.held_back("b", "m") == []
    assert {c.id: c.held_back for c in store.list("a", "m")} == {kept.id: True, trained.id: False}

    _job(any_db, "ftjob-failed", "failed")
    store.mark_used([kept.id], "ftjob-failed", held_back=[kept.id])
    assert store.held_back("a", "m") == []  # its job failed: unused, to be split afresh
    claimed = store.claim_unused("a", "m", "claim-0001")
    assert [(c.id, c.held_back) for c in claimed] == [(kept.id, False)]
