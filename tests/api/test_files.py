"""``/v1/files`` through the official ``openai`` client on a real server: fine-tuning datasets
stored, listed, read back and deleted; every bad upload refused with OpenAI's error body."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator

import openai
import pytest

from tests.adapt_data import adapt_rows, dataset_zip
from tests.conftest import make_settings
from tests.live_server import serve_in_thread

API_KEY = "sk-tympan-files"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    settings = make_settings(
        tmp_path_factory.mktemp("files"),
        api_keys=API_KEY,
        max_dataset_files=20,
        max_upload_bytes=2_000_000,
    )
    with serve_in_thread(settings) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)


def test_a_dataset_is_stored_listed_read_and_deleted(client: openai.OpenAI) -> None:
    data = dataset_zip(adapt_rows("train", 4), manifest="jsonl", folder="accent/")
    stored = client.files.create(file=("accent.zip", data), purpose="fine-tune")
    assert stored.id.startswith("file-") and stored.object == "file"
    assert (stored.bytes, stored.filename, stored.purpose) == (len(data), "accent.zip", "fine-tune")
    assert stored.status == "processed" and stored.created_at > 0
    assert client.files.retrieve(stored.id) == stored
    assert stored.id in [item.id for item in client.files.list(purpose="fine-tune")]
    assert client.files.content(stored.id).content == data
    second = client.files.create(file=("b.zip", data), purpose="fine-tune")
    page = client.files.list(limit=1)
    assert [item.id for item in page.data] == [second.id] and page.has_more
    assert [item.id for item in page] == [second.id, stored.id]  # the client follows `after`
    client.files.delete(second.id)
    deleted = client.files.delete(stored.id)
    assert (deleted.id, deleted.deleted) == (stored.id, True)
    assert stored.id not in [item.id for item in client.files.list()]
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(stored.id)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"audio,text\nnot a zip at all\n", 400, "not a readable zip"),
        (_zip({"clips/a.opus": b"x"}), 400, "no manifest.csv or manifest.jsonl"),
        (_zip({"../manifest.csv": b"audio,text\n"}), 400, "unsafe entries"),
        (_zip({f"{n}.opus": b"x" for n in range(21)} | {"manifest.csv": b""}), 413,
         "TYMPAN_MAX_DATASET_FILES"),
        (_zip({"manifest.csv": b"0" * 1_500_000}, zipfile.ZIP_DEFLATED), 413,
         "TYMPAN_MAX_ZIP_RATIO"),
        (_zip({"manifest.csv": b"", "big.opus": os.urandom(2_100_000)}), 413,
         "TYMPAN_MAX_UPLOAD_BYTES"),
    ],
)  # fmt: skip
def test_bad_uploads_are_refused_and_leave_nothing(
    client: openai.OpenAI, content: bytes, status: int, words: str
) -> None:
    before = client.files.list().data
    with pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("data.zip", content), purpose="fine-tune")
    error = caught.value
    assert error.status_code == status and words in error.message
    assert error.body["type"] == "invalid_request_error" and error.body["param"] == "file"
    assert client.files.list().data == before


def test_wrong_purpose_and_unknown_ids(client: openai.OpenAI) -> None:
    data = dataset_zip(adapt_rows("train", 2))
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("data.zip", data), purpose="assistants")
    assert caught.value.body["param"] == "purpose" and "fine-tune" in caught.value.message
    for call in (client.files.retrieve, client.files.delete, client.files.content):
        with pytest.raises(openai.NotFoundError) as missing:
            call("file-000000000000000000000000")
        assert missing.value.body["code"] == "resource_not_found"


def test_files_belong_to_their_namespace(tmp_path_factory: pytest.TempPathFactory) -> None:
    keys = "sk-tympan-a@alpha,sk-tympan-b@beta"
    settings = make_settings(tmp_path_factory.mktemp("ns"), api_keys=keys)
    with serve_in_thread(settings) as url:
        alpha = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-tympan-a", max_retries=0)
        beta = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-tympan-b", max_retries=0)
        stored = alpha.files.create(file=("a.zip", dataset_zip(adapt_rows("train", 2))),
                                    purpose="fine-tune")  # fmt: skip
        assert [item.id for item in alpha.files.list()] == [stored.id]
        assert beta.files.list().data == []
        with pytest.raises(openai.NotFoundError):
            beta.files.retrieve(stored.id)
