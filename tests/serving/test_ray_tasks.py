"""Training as Ray tasks: a real local Ray on loopback; classifiers on real spoken digits and
(multimodal) RAVDESS sentences, music stages, and ASR fine-tuning on real accented speech.

The module's Ray (3 logical CPUs, no dashboard) is started once and stopped at the end; the service
under test joins it (``TYMPAN_RAY_ADDRESS=local`` reuses the Ray this process runs).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from tests.adapt_data import ADAPT, adapt_rows, dataset_zip  # noqa: E402
from tests.api.test_classifiers import DIGITS, FSDD, _subset, _train  # noqa: E402
from tests.classifier_data import ravdess_sentences  # noqa: E402
from tests.conftest import EVAL_DIR, make_settings, services_of  # noqa: E402
from tests.tasks.music.conftest import TINY  # noqa: E402
from tympan.client import Client  # noqa: E402
from tympan.errors import InvalidParameter, JobCancelled  # noqa: E402
from tympan.serving.ray_tasks import RayTasks  # noqa: E402
from tympan.tasks.classifiers.dataset import load_dataset  # noqa: E402
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier  # noqa: E402
from tympan.tasks.classifiers.service import ship_dataset, train_elsewhere  # noqa: E402
from tympan.tasks.classifiers.train import TrainConfig  # noqa: E402

pytestmark = pytest.mark.timeout(240)

HERE = f"{socket.gethostname()}:{os.getpid()}"


def _halfway(value: int, *, progress) -> tuple[int, int]:
    progress(0.5, "halfway")
    return value * 2, os.getpid()


def _refuse(*, progress) -> None:
    raise InvalidParameter("no such thing", param="thing")


def test_a_ray_task_relays_progress_and_raises_its_own_error(ray_cluster: None) -> None:
    seen: list[tuple[float, str]] = []
    tasks = RayTasks()
    doubled, pid = tasks.run(_halfway, 21, num_cpus=1, progress=lambda f, m: seen.append((f, m)))
    assert doubled == 42 and pid != os.getpid()
    assert seen == [(0.5, "halfway")]
    with pytest.raises(InvalidParameter, match="no such thing"):
        tasks.run(_refuse, num_cpus=1, progress=lambda f, m: None)


def _count_until_stopped(*, progress, should_stop) -> None:
    step = 0
    while not should_stop():
        step += 1
        progress(step, f"step {step}")
        time.sleep(0.02)
    raise JobCancelled(f"stopped after step {step}")


def test_a_ray_task_relays_every_report_in_order_and_stops_when_asked(ray_cluster: None) -> None:
    steps: list[int] = []
    with pytest.raises(JobCancelled, match="stopped after step"):
        RayTasks().run(
            _count_until_stopped,
            num_cpus=1,
            progress=lambda step, message: steps.append(step),
            should_stop=lambda: len(steps) >= 5,
        )
    assert len(steps) >= 5 and steps == list(range(1, len(steps) + 1))


def test_fine_tuning_runs_as_a_ray_task_and_its_model_serves(
    ray_cluster: None, tmp_path: Path
) -> None:
    rows = adapt_rows("train", 6, speakers=3)
    settings = make_settings(tmp_path / "tympan", ray_address="local", ray_training_cpus=1)
    with Client.in_process(settings) as api:
        train = api.upload_dataset(dataset_zip(rows[:4]))
        validation = api.upload_dataset(dataset_zip(rows[4:]))
        job = api.create_fine_tuning_job(
            "whisper-tiny.en",
            train["id"],
            validation_file=validation["id"],
            suffix="ray",
            batch_size=2,
            max_steps=2,
        )
        done = api.wait_fine_tuning_job(job["id"], poll=0.2, timeout=600)
        events = api.fine_tuning_events(job["id"], limit=100)["data"]
        assert [e for e in events if e["type"] == "metrics" and e["data"]["step"] >= 1]
        trained_by = api.fine_tuning_report(job["id"])["trained_by"]
        assert trained_by != HERE and trained_by.startswith(socket.gethostname())
        text = api.transcribe(ADAPT / rows[0]["audio"], model=done["fine_tuned_model"]).text
        assert text.strip()

        idle = ray.available_resources().get("CPU", 0)
        long = api.create_fine_tuning_job(
            "whisper-tiny.en", train["id"], validation_file=validation["id"], n_epochs=50
        )
        while api.fine_tuning_job(long["id"])["status"] != "running":
            time.sleep(0.2)
        assert api.cancel_fine_tuning_job(long["id"])["status"] == "cancelled"
        deadline = time.monotonic() + 60  # the task stops at its next check and frees its CPU
        while ray.available_resources().get("CPU", 0) < idle:
            assert time.monotonic() < deadline, ray.available_resources()
            time.sleep(0.5)
        assert api.fine_tuning_job(long["id"])["fine_tuned_model"] is None


def test_training_runs_as_a_ray_task_and_its_version_serves(
    ray_cluster: None, tmp_path: Path
) -> None:
    data = _subset(tmp_path / "digits")
    settings = make_settings(tmp_path / "tympan", ray_address="local")
    with Client.in_process(settings) as api:
        assert services_of(api).remote_tasks is not None
        done = _train(api, "digits", data, max_epochs=8, augment_copies=0)
        assert done["status"] == "succeeded", done
        result = done["result"]
        assert result["ref"] == "digits:1" and result["labels"] == list(DIGITS)
        trained_by = result["metrics"]["trained_by"]
        assert trained_by != HERE and trained_by.startswith(socket.gethostname())
        prediction = api.predict("digits", FSDD / "audio" / "0_nicolas_0.flac")
        assert prediction.label in DIGITS
        assert "model.onnx" in api.classifier_versions("digits")[0]["artifacts"]
    assert ray.is_initialized()  # the service left the Ray it joined running


def test_a_training_task_needs_no_folder_of_the_api_machine(
    ray_cluster: None, tmp_path: Path
) -> None:
    """What the task reads travels with it and what it writes comes back, so a node without
    the API's folders trains: the dataset is deleted before the task starts, and the feature
    cache folder the settings name cannot be made where it runs."""
    data = _subset(tmp_path / "digits")
    shipment, portable = ship_dataset(load_dataset(data))
    shutil.rmtree(data)
    trained, files = RayTasks().run(
        train_elsewhere,
        shipment,
        portable,
        TrainConfig(max_epochs=4, augment_copies=0),
        Path("/proc/tympan-feature-cache"),
        make_settings(tmp_path / "tympan"),
        [],
        num_cpus=1,
        progress=lambda fraction, message: None,
    )
    folder = files.unpack(tmp_path / "version")
    assert trained.labels == list(DIGITS) and trained.metrics["trained_by"] != HERE
    meta = ModelMeta.from_json((folder / "meta.json").read_text())
    served = OnnxClassifier(folder / "model.onnx", meta)  # the files the task wrote
    assert meta.labels == list(DIGITS) and trained.metrics["accuracy"] > 1 / len(DIGITS)
    assert served.probabilities(np.zeros((2, meta.input_dim), np.float32)).shape == (2, 3)


def test_multimodal_training_transcribes_in_its_ray_task_and_serves(
    ray_cluster: None, tmp_path: Path
) -> None:
    """The task loads the bundled Whisper itself to transcribe the clips; the front serves
    the version, transcribing each clip it predicts."""
    data = ravdess_sentences(tmp_path / "sentences", (1, 2, 3, 4), ("neutral", "angry"))
    settings = make_settings(tmp_path / "tympan", ray_address="local")
    with Client.in_process(settings) as api:
        done = _train(api, "sentences", data, arch="multimodal", max_epochs=15, augment_copies=0)
        assert done["status"] == "succeeded", done
        result = done["result"]
        assert result["arch"] == "multimodal" and result["labels"] == ["dogs", "kids"]
        trained_by = result["metrics"]["trained_by"]
        assert trained_by != HERE and trained_by.startswith(socket.gethostname())
        clip = EVAL_DIR / "emotion" / "audio" / "03-01-01-01-01-01-05.flac"
        assert api.predict("sentences", clip).label == "kids"  # actor 5: unseen


def test_music_training_stages_run_as_ray_tasks_and_the_model_serves(
    ray_cluster: None, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "tympan", ray_address="local", music_first_pieces=10, **TINY
    )
    with Client.in_process(settings) as api:
        seen: list[str] = []
        job = api.music_train("folk-markov", on_progress=lambda f, message: seen.append(message))
        assert job["status"] == "succeeded", job
        assert job["params"]["stages"] == 2 and seen  # the quick model, then the full one
        trained_by = job["result"]["trained_by"]
        assert trained_by != HERE and trained_by.startswith(socket.gethostname())
        piece = api.music_generate(model="folk-markov", bars=2, seed=1, response_format="json")
        assert piece.notes


def test_training_embedded_runs_in_this_process(tmp_path: Path) -> None:
    with Client.in_process(make_settings(tmp_path)) as api:
        assert services_of(api).remote_tasks is None
        done = _train(api, "digits", _subset(tmp_path / "digits"), max_epochs=2, augment_copies=0)
        assert done["result"]["metrics"]["trained_by"] == HERE
