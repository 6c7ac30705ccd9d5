"""The SDK's fine-tuning methods in-process: dataset files, jobs, their errors as Tympan's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapt_data import adapt_rows, dataset_zip
from tests.conftest import make_settings
from tympan.client import Client
from tympan.errors import InvalidDataset, ModelNotFound, ResourceNotFound


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.in_process(make_settings(tmp_path_factory.mktemp("sdk-ft"))) as client:
        yield client


def test_files_upload_list_delete(client: Client, tmp_path: Path) -> None:
    stored = client.upload_dataset(dataset_zip(adapt_rows("train", 2)))
    assert stored["purpose"] == "fine-tune" and stored["filename"] == "dataset.zip"
    assert stored["id"] in [item["id"] for item in client.files(purpose="fine-tune")]
    assert client.delete_file(stored["id"])["deleted"] is True
    with pytest.raises(ResourceNotFound):
        client.delete_file(stored["id"])


def test_a_failed_job_raises_its_error_when_waited_for(client: Client) -> None:
    rows = adapt_rows("train", 3)
    bad = client.upload_dataset(dataset_zip(rows, listed=[{**rows[0], "text": " "}, *rows]))
    job = client.create_fine_tuning_job("whisper-tiny.en", bad["id"], suffix="sdk", seed=1)
    assert job["status"] in ("queued", "validating_files") and job["suffix"] == "sdk"
    seen: list[str] = []
    with pytest.raises(InvalidDataset, match="row 1"):
        client.wait_fine_tuning_job(job["id"], poll=0.2, on_progress=lambda f, m: seen.append(m))
    assert seen
    events = client.fine_tuning_events(job["id"], limit=2)
    assert events["data"][0]["level"] == "error" and events["has_more"]
    page = client.fine_tuning_jobs(limit=1)
    assert [item["id"] for item in page["data"]] == [job["id"]]
    with pytest.raises(ResourceNotFound):
        client.fine_tuning_report(job["id"])


def test_unknown_model_and_file(client: Client) -> None:
    with pytest.raises(ModelNotFound):
        client.create_fine_tuning_job("whisper-huge", "file-x")
    with pytest.raises(ResourceNotFound):
        client.create_fine_tuning_job("whisper-tiny.en", "file-000000000000000000000000")
    with pytest.raises(ResourceNotFound):
        client.cancel_fine_tuning_job("ftjob-000000000000000000000000")
