"""Two servers on one database and one artifact URL (a shared folder, or an S3 bucket on a
loopback server): a version one trains, the other serves."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tests.adapt_data import adapt_rows, dataset_zip
from tests.classifier_data import fsdd_subset
from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread
from tests.object_store import s3_bucket
from tympan.api.services import Services
from tympan.cli import app as cli_app
from tympan.client import Client
from tympan.errors import ArtifactStoreUnavailable
from tympan.tasks.classifiers.dataset import zip_dataset


@pytest.mark.parametrize("store", ["folder", "s3"])
def test_a_second_server_serves_a_new_version_without_restart(tmp_path: Path, store: str) -> None:
    with contextlib.ExitStack() as stack:
        if store == "s3":
            bucket = stack.enter_context(s3_bucket())
            shared = {"artifact_url": bucket.url, "artifact_options": bucket.options}
        else:
            shared = {"artifact_url": (tmp_path / "shared").as_uri()}
        first = make_settings(tmp_path / "first", **shared)
        second = make_settings(
            tmp_path / "second", database_url=first.resolved_database_url, **shared
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
            assert "digits:1" in str(server.classifier_report("digits", format="markdown"))
            assert server.classifier_file("digits", 1, "confusion.png").startswith(b"\x89PNG")
    copy = tmp_path / "second" / "artifacts" / "classifiers" / "digits" / "1"
    if store == "s3":  # the second server fetched its own copy from the bucket
        assert (copy / "meta.json").is_file()
    else:
        assert (tmp_path / "shared").is_dir() and not copy.exists()


def test_an_artifact_url_nothing_can_open_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TYMPAN_ARTIFACT_URL: nosuch:// cannot be used"):
        make_settings(tmp_path, artifact_url="nosuch://bucket/tympan")


def test_an_object_store_without_its_bucket_stops_the_start_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with s3_bucket() as bucket:
        missing = bucket.url.replace("s3://", "s3://no-such-", 1)
        with pytest.raises(ArtifactStoreUnavailable, match=r"TYMPAN_ARTIFACT_URL\) has no bucket"):
            Services.start(
                make_settings(tmp_path, artifact_url=missing, artifact_options=bucket.options)
            )
        options = ",".join(f"{name}={value}" for name, value in bucket.options.items())
        monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "cli"))
        monkeypatch.setenv("TYMPAN_ARTIFACT_URL", missing)
        monkeypatch.setenv("TYMPAN_ARTIFACT_OPTIONS", options)
        result = CliRunner().invoke(cli_app, ["serve"])
        assert result.exit_code == 2 and "TYMPAN_ARTIFACT_URL" in result.output


def test_an_unreachable_object_store_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    closed = {"endpoint_url": "http://127.0.0.1:9", "key": "test", "secret": "test"}
    settings = make_settings(tmp_path, artifact_url="s3://bucket/p", artifact_options=closed)
    with pytest.raises(ArtifactStoreUnavailable, match=r"Cannot reach .*TYMPAN_ARTIFACT_OPTIONS"):
        Services.start(settings)


def test_an_object_store_that_goes_down_fails_its_requests_with_503_and_nothing_else(
    tmp_path: Path,
) -> None:
    """While the bucket's server is down, a request that needs it is a 503 naming the
    setting (with Retry-After), others are answered; once it is back, the same upload works
    and what was stored before is still there."""
    with s3_bucket() as bucket:
        settings = make_settings(tmp_path, artifact_url=bucket.url, artifact_options=bucket.options)
        with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=120) as http:
            kept = http.post(
                "/v1/files", files=_upload("before.zip"), data={"purpose": "fine-tune"}
            )
            assert kept.status_code == 200, kept.text
            with bucket.outage():
                failed = http.post(
                    "/v1/files", files=_upload("during.zip"), data={"purpose": "fine-tune"}
                )
                assert failed.status_code == 503, failed.text
                error = failed.json()["error"]
                assert error["code"] == "artifact_store_unavailable"
                assert "TYMPAN_ARTIFACT_URL" in error["message"]
                assert failed.headers["Retry-After"] == "5"
                assert http.get("/healthz").status_code == 200
                assert http.get("/v1/models").status_code == 200
            again = http.post(
                "/v1/files", files=_upload("after.zip"), data={"purpose": "fine-tune"}
            )
            assert again.status_code == 200, again.text
            names = [f["filename"] for f in http.get("/v1/files").json()["data"]]
            assert sorted(names) == ["after.zip", "before.zip"]
            content = http.get(f"/v1/files/{kept.json()['id']}/content")
            assert content.status_code == 200 and content.content == _ZIP


_ZIP = dataset_zip(adapt_rows("train", 2))


def _upload(name: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, _ZIP, "application/zip")}
