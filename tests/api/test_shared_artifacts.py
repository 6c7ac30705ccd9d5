"""Two servers on one database and one artifact URL: a version one trains, the other serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.classifier_data import fsdd_subset
from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread
from tympan.client import Client
from tympan.tasks.classifiers.dataset import zip_dataset


def test_a_second_server_serves_a_new_version_without_restart(tmp_path: Path) -> None:
    first = make_settings(tmp_path / "first", artifact_url=(tmp_path / "shared").as_uri())
    second = make_settings(
        tmp_path / "second",
        database_url=first.resolved_database_url,
        artifact_url=first.artifact_url,
    )
    data = zip_dataset(fsdd_subset(tmp_path / "digits", ("0", "1"), ("jackson", "theo"), 4))
    clip = EVAL_DIR / "fsdd" / "audio" / "1_theo_9.flac"
    with (
        serve_in_thread(first) as url_a,
        serve_in_thread(second) as url_b,
        Client(url_a) as trainer,
        Client(url_b) as server,
    ):
        assert server.classifiers() == []  # the second server is up before the version
        job = trainer.train_classifier("digits", data, arch="cnn", max_epochs=3)
        assert trainer.wait_job(job["id"], poll=0.2)["status"] == "succeeded"
        assert [c["name"] for c in server.classifiers()] == ["digits"]
        assert server.predict("digits", clip).label in ("0", "1")
        assert server.job(job["id"])["status"] == "succeeded"
    assert (tmp_path / "shared").is_dir() and not (tmp_path / "second" / "artifacts").exists()


def test_an_object_store_url_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TYMPAN_ARTIFACT_URL: s3:// is not supported"):
        make_settings(tmp_path, artifact_url="s3://bucket/tympan")
