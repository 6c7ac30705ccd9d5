"""Fine-tuning jobs, events and published models: statuses, pages, cancel, version numbers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tympan.errors import Conflict, ResourceNotFound
from tympan.store import Database
from tympan.store.finetuning import (
    FineTuningJobRow,
    FineTuningStore,
    new_fine_tuning_id,
    served_model,
)
from tympan.store.jobs import JobRunner


def _job(store: FineTuningStore, runner: JobRunner, release: threading.Event, ns="default") -> str:
    """A fine-tuning job whose work runs until ``release`` is set."""
    job_id = new_fine_tuning_id()
    store.add(
        FineTuningJobRow(
            id=job_id, namespace=ns, model="whisper-tiny.en", training_file="file-x",
            validation_file=None, suffix="acme", seed=0, hyperparameters={}, options={},
        )
    )  # fmt: skip
    runner.submit("asr-fine-tuning", lambda progress: release.wait(30) and {}, job_id=job_id)
    return job_id


@pytest.fixture
def runner(any_db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    jobs = JobRunner(any_db, tmp_path / "work", workers=2)
    yield jobs
    jobs.close()


def test_status_pages_and_events(any_db: Database, runner: JobRunner) -> None:
    store, release = FineTuningStore(any_db), threading.Event()
    ids = [_job(store, runner, release) for _ in range(3)]
    other = _job(store, runner, release, ns="acme")
    assert store.get(ids[0], "default").status in ("queued", "validating_files")
    store.set_phase(ids[0], "running")
    release.set()
    for job_id in [*ids, other]:
        runner.wait(job_id, timeout=30)
    done = store.get(ids[0], "default")
    assert done.status == "succeeded" and done.finished_at is not None
    with pytest.raises(ResourceNotFound):
        store.get(other, "default")
    first, more = store.list("default", limit=2)
    assert [job.id for job in first] == ids[::-1][:2] and more
    rest, more = store.list("default", after=first[-1].id, limit=2)
    assert [job.id for job in rest] == [ids[0]] and not more
    for step in range(5):
        store.add_event(ids[0], f"step {step}", {"step": step, "train_loss": 1.0 / (step + 1)})
    store.add_event(ids[0], "done")
    events, more = store.events(ids[0], limit=4)
    assert [event.type for event in events] == ["message", "metrics", "metrics", "metrics"]
    assert events[1].data == {"step": 4, "train_loss": 0.2} and more
    older, more = store.events(ids[0], after=events[-1].id, limit=4)
    assert [event.message for event in older] == ["step 1", "step 0"] and not more


def test_cancel_running_job_then_refuse_to_cancel_or_publish(
    any_db: Database, runner: JobRunner
) -> None:
    store, release = FineTuningStore(any_db), threading.Event()
    job_id = _job(store, runner, release)
    version = store.reserve_version("ft:whisper-tiny.en:acme", "default", "whisper-tiny.en", job_id)
    assert store.cancel(job_id, "default").status == "cancelled"
    assert runner.ended(job_id)
    published = []
    with pytest.raises(Conflict, match="nothing was published"):
        store.complete_version("ft:whisper-tiny.en:acme", version, lambda: published.append(1), {})
    assert published == [] and store.models() == []
    release.set()
    assert runner.wait(job_id, timeout=30).status == "cancelled"  # the late finish is ignored
    with pytest.raises(Conflict, match="already ended"):
        store.cancel(job_id, "default")
    with pytest.raises(ResourceNotFound):
        store.cancel(job_id, "acme")
    removed = []
    assert store.abandon_reservations(lambda n, v: removed.append((n, v))) == [
        f"ft:whisper-tiny.en:acme:{version}"
    ]
    assert removed == [("ft:whisper-tiny.en:acme", version)]


def test_versions_are_numbered_by_the_database(any_db: Database, runner: JobRunner) -> None:
    store, release = FineTuningStore(any_db), threading.Event()
    name = "ft:whisper-tiny.en:acme"
    first, second = _job(store, runner, release), _job(store, runner, release)
    one = store.reserve_version(name, "default", "whisper-tiny.en", first)
    two = store.reserve_version(name, "default", "whisper-tiny.en", second)
    assert (one, two) == (1, 2)
    store.release_reservation(name, one, lambda: None)  # a failed publish gives up its number
    model = store.complete_version(name, two, lambda: None, {"validation_wer_after": 0.1})
    assert model.ref == f"{name}:2" and store.get(second, "default").fine_tuned_model == model.ref
    assert store.reserve_version(name, "default", "whisper-tiny.en", first) == 3  # never reused
    assert [item.ref for item in store.models("default")] == [model.ref]
    assert store.models("acme") == [] and store.models(name="ft:other:x") == []
    store.check_name(name, "default")
    with pytest.raises(Conflict, match="taken"):  # the name is the first namespace's
        store.check_name(name, "acme")
    with pytest.raises(Conflict, match="taken"):
        store.reserve_version(name, "acme", "whisper-tiny.en", second)
    release.set()


def test_a_job_cancelled_in_the_queue_never_runs(any_db: Database, tmp_path: Path) -> None:
    store, release = FineTuningStore(any_db), threading.Event()
    runner = JobRunner(any_db, tmp_path / "work", workers=1)
    try:
        first = _job(store, runner, release)  # holds the only worker
        ran = threading.Event()
        queued = new_fine_tuning_id()
        store.add(
            FineTuningJobRow(
                id=queued, namespace="default", model="whisper-tiny.en", training_file="f",
                validation_file=None, suffix="s", seed=0, hyperparameters={}, options={},
            )
        )  # fmt: skip
        runner.submit("asr-fine-tuning", lambda progress: ran.set() or {}, job_id=queued)
        assert store.get(queued, "default").status == "queued"
        assert store.cancel(queued, "default").status == "cancelled"
        release.set()
        runner.wait(first, timeout=30)
        assert runner.wait(queued, timeout=30).status == "cancelled" and not ran.is_set()
    finally:
        release.set()
        runner.close()


def test_stages_promote_and_rollback(any_db: Database, runner: JobRunner) -> None:
    store, release = FineTuningStore(any_db), threading.Event()
    name = "ft:whisper-tiny.en:acme"
    for _ in range(3):
        job_id = _job(store, runner, release)
        number = store.reserve_version(name, "default", "whisper-tiny.en", job_id)
        store.complete_version(name, number, lambda: None, {})
    release.set()

    def stages() -> list[str]:
        return [model.stage for model in store.models(name=name)]

    assert stages() == ["staging"] * 3 and served_model(store.models(name=name)).version == 3
    assert store.promote(name, 1, "production", "default").stage == "production"
    store.promote(name, 2, "production", "default")
    assert stages() == ["archived", "production", "staging"]
    assert served_model(store.models(name=name)).version == 2
    assert store.rollback(name, "default").version == 1
    assert stages() == ["production", "archived", "staging"]
    with pytest.raises(Conflict, match="no earlier production"):
        store.rollback(name, "default")
    with pytest.raises(ResourceNotFound):
        store.promote(name, 9, "production", "default")
    with pytest.raises(ResourceNotFound):
        store.rollback(name, "acme")
    store.promote(name, 1, "archived", "default")
    assert served_model(store.models(name=name)).version == 3  # no production: the newest
