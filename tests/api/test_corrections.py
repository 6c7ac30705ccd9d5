"""``/v1/audio/corrections`` on a real server through the SDK: corrections are stored per
namespace, bad ones refused with nothing left behind, and a tiny real fine-tuning on
``asr_adapt`` corrections is scored on held-back corrections and LJSpeech, then promoted (or not)
as the scores say; a full batch starts a job by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.adapt_data import ADAPT, adapt_rows, dataset_zip
from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread
from tympan.client import Client
from tympan.config import Settings
from tympan.errors import TympanError
from tympan.tasks.adaptation.corrections import MIN_CORRECTIONS
from tympan.tasks.adaptation.review import decide

KEYS = "a-key:admin@teamA,b-key:admin@teamB"
BATCH = 7
LONG_CLIP = EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac"  # 9.7 s
BASE = "whisper-tiny.en"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("corrections"),
        api_keys=KEYS,
        corrections_batch=BATCH,
        correction_max_seconds=9.0,
        correction_max_chars=300,
        corrections_general_dir=EVAL_DIR / "asr_ljspeech",
        corrections_general_clips=3,
    )


@pytest.fixture(scope="module")
def teams(settings: Settings) -> Iterator[tuple[Client, Client]]:
    with (
        serve_in_thread(settings) as url,
        Client(url, "a-key") as team_a,
        Client(url, "b-key") as team_b,
    ):
        yield team_a, team_b


def _stored_audio(settings: Settings) -> list[Path]:
    folder = settings.artifacts_dir / "corrections"
    return sorted(folder.rglob("*.wav")) if folder.exists() else []


def _refused(call, status: int, param: str, words: str = "") -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TympanError) as caught:
        call()
    assert (caught.value.status, caught.value.param) == (status, param), caught.value.message
    assert words in caught.value.message


def test_bad_corrections_are_refused_and_leave_nothing(teams, settings: Settings) -> None:
    team_a, _ = teams
    clip = (ADAPT / adapt_rows("train", 1)[0]["audio"]).read_bytes()
    _refused(lambda: team_a.add_correction(clip, "  ", BASE), 400, "text")
    _refused(lambda: team_a.add_correction(b"not audio at all", "hello", BASE), 400, "file")
    _refused(lambda: team_a.add_correction(clip, "hello", "whisper-huge"), 404, "model")
    _refused(
        lambda: team_a.add_correction(LONG_CLIP, "printing", BASE),
        413,
        "file",
        "TYMPAN_CORRECTION_MAX_SECONDS",
    )
    _refused(
        lambda: team_a.add_correction(clip, "word " * 80, BASE),
        413,
        "text",
        "TYMPAN_CORRECTION_MAX_CHARS",
    )
    _refused(lambda: team_a.train_on_corrections(BASE), 400, "model", "at least 3")
    _refused(lambda: team_a.train_on_corrections("whisper-huge"), 404, "model")
    _refused(lambda: team_a.delete_correction("corr-nope"), 404, "correction_id")
    assert team_a.corrections()["count"] == 0 and _stored_audio(settings) == []


def _wait(client: Client, job_id: str, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.job(job_id))["status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"{job_id} still {job['status']}"
        time.sleep(0.5)
    return job


def test_corrections_train_a_version_promoted_only_if_it_wins(teams, settings: Settings) -> None:
    team_a, team_b = teams
    rows = adapt_rows("train", 6, speakers=3)
    extra = team_a.add_correction(ADAPT / rows[0]["audio"], rows[0]["text"], BASE)
    assert team_a.delete_correction(extra["id"])["deleted"] is True
    assert team_a.corrections(BASE)["count"] == 0 and _stored_audio(settings) == []
    added = [
        team_a.add_correction(ADAPT / row["audio"], row["text"], BASE, speaker=row["speaker"])
        for row in rows
    ]
    assert all(c["fine_tuning_job"] is None and 0 < c["seconds"] <= 9 for c in added)
    listed = team_a.corrections(BASE)
    assert (listed["count"], listed["unused"]) == (6, 6)
    assert [c["id"] for c in listed["data"]] == [c["id"] for c in added]
    assert len(_stored_audio(settings)) == 6

    # another namespace sees none of them and cannot delete them
    assert team_b.corrections()["count"] == 0
    _refused(lambda: team_b.delete_correction(added[0]["id"]), 404, "correction_id")

    started = team_a.train_on_corrections(BASE, layers="decoder", max_steps=2, seed=3)
    job = _wait(team_a, started["id"])
    assert job["status"] == "succeeded", job["error"]
    assert team_a.files() == []  # the batch's training zip is deleted once unpacked
    result = job["result"]
    name = f"ft:{BASE}:teamA-corrections"
    assert result["fine_tuned_model"] == f"{name}:1"
    assert result["held_back"] >= 1 and result["general_clips"] == 3
    scores = result["scores"]
    assert all(0.0 <= scores[part][who] <= 2.0 for part in scores for who in scores[part])
    assert (result["promoted"], result["reason"]) == decide(scores)
    stages = {v["version"]: v["stage"] for v in team_a.fine_tuned_versions(name)}
    assert stages[1] == ("production" if result["promoted"] else "staging")
    events = team_a.fine_tuning_events(started["id"], limit=100)["data"]
    assert any(result["reason"] in event["message"] for event in events)

    after = team_a.corrections(BASE)
    assert after["unused"] == 0
    assert {c["fine_tuning_job"] for c in after["data"]} == {started["id"]}
    assert sum(c["held_back"] for c in after["data"]) == result["held_back"]
    _refused(lambda: team_a.train_on_corrections(BASE), 400, "model", "0 unused")
    _refused(lambda: team_b.train_on_corrections(f"{name}:1"), 404, "model")


def test_a_full_batch_starts_a_job(teams) -> None:
    team_a, _ = teams
    rows = adapt_rows("train", BATCH, speakers=3)
    jobs = [
        team_a.add_correction(ADAPT / row["audio"], row["text"], BASE)["fine_tuning_job"]
        for row in rows
    ]
    assert jobs[:-1] == [None] * (BATCH - 1) and jobs[-1] is not None
    assert team_a.corrections(BASE)["unused"] == 0
    team_a.cancel_fine_tuning_job(jobs[-1])  # its training is not what this test checks
    assert team_a.corrections(BASE)["unused"] == BATCH  # a cancelled job used none of them
    assert team_a.files() == []  # nor left its training zip behind, queued or running


def test_two_train_requests_at_once_start_one_job_on_each_correction(teams) -> None:
    team_a, _ = teams
    model = "tiny.en"  # an alias: its corrections are stored under the model it names
    for row in adapt_rows("train", 4, speakers=2):
        team_a.add_correction(ADAPT / row["audio"], row["text"], BASE)
    barrier = threading.Barrier(2)

    def train() -> dict | TympanError:
        barrier.wait()
        try:
            return team_a.train_on_corrections(model, max_steps=1)
        except TympanError as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: train(), range(2)))
    jobs = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, TympanError)]
    assert len(jobs) == 1 and len(refused) == 1, outcomes
    assert (refused[0].status, refused[0].param) == (400, "model")
    listed = team_a.corrections(BASE)["data"]
    assert {c["fine_tuning_job"] for c in listed if c["fine_tuning_job"]} >= {jobs[0]["id"]}
    assert team_a.corrections(BASE)["unused"] == 0
    # judged on its own held-back corrections and on those the earlier job kept out
    earlier = {c["fine_tuning_job"] for c in listed} - {jobs[0]["id"]}  # the first test's job
    held = [c for c in listed if c["held_back"]]
    assert {c["fine_tuning_job"] for c in held} == {jobs[0]["id"], *earlier}
    assert team_a.fine_tuning_job(jobs[0]["id"])["metadata"]["judged_on"] == str(len(held))
    team_a.cancel_fine_tuning_job(jobs[0]["id"])  # its training is not what this test checks


@pytest.mark.parametrize(
    ("held", "general", "promoted", "words"),
    [
        ((0.30, 0.20), (0.10, 0.104), True, "promoted"),
        ((0.30, 0.30), (0.10, 0.10), False, "does not beat"),
        ((0.30, 0.20), (0.10, 0.106), False, "regresses 0.6 points"),
        ((0.30, 0.20), (None, None), False, "TYMPAN_CORRECTIONS_GENERAL_DIR"),
    ],
)
def test_promotion_rule(held, general, promoted, words) -> None:
    scores = {
        "held_back": {"current": held[0], "new": held[1]},
        "general": {"current": general[0], "new": general[1]},
    }
    decided, reason = decide(scores)
    assert decided is promoted and words in reason


def test_a_batch_queued_when_the_server_stops_leaves_no_training_zip(tmp_path: Path) -> None:
    """A long fine-tuning job holds the job runner when a batch fills, so the batch's job
    waits in the queue; the server stops: that job fails at once (``interrupted``), and the
    next start deletes the zip it never unpacked. The user's own uploads stay."""
    settings = make_settings(tmp_path, corrections_batch=MIN_CORRECTIONS)
    rows = adapt_rows("train", 4 + MIN_CORRECTIONS, speakers=3)
    with Client.in_process(settings) as api:
        train = api.upload_dataset(dataset_zip(rows[:2]))
        validation = api.upload_dataset(dataset_zip(rows[2:4]))
        busy = api.create_fine_tuning_job(
            BASE, train["id"], validation_file=validation["id"], n_epochs=50
        )
        while api.fine_tuning_job(busy["id"])["status"] == "queued":
            time.sleep(0.2)
        batch = [api.add_correction(ADAPT / r["audio"], r["text"], BASE) for r in rows[4:]]
        queued = batch[-1]["fine_tuning_job"]
        assert queued is not None and api.fine_tuning_job(queued)["status"] == "queued"
        assert len(api.files()) == 3
    with Client.in_process(settings) as api:
        job = api.fine_tuning_job(queued)
        assert job["status"] == "failed" and job["error"]["code"] == "interrupted", job
        assert sorted(f["id"] for f in api.files()) == sorted([train["id"], validation["id"]])
