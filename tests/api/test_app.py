"""The app factory's body limit: 413 naming TYMPAN_MAX_UPLOAD_BYTES, declared or chunked."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import EVAL_DIR, make_settings
from tests.live_server import serve_in_thread
from tympan.api.app import _MULTIPART_OVERHEAD

MAX_UPLOAD = 50_000
CLIP = EVAL_DIR / "fsdd" / "audio" / "0_george_0.flac"


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    settings = make_settings(tmp_path_factory.mktemp("limit"), max_upload_bytes=MAX_UPLOAD)
    with serve_in_thread(settings) as url:
        yield url, settings


def _multipart(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A multipart form with one ``file`` of ``size`` bytes, streamed (so sent chunked)."""
    yield (
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nBig\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n"
    )
    for start in range(0, size, chunk):
        yield b"\0" * min(chunk, size - start)
    yield b"\r\n--b--\r\n"


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "upload_too_large" and error["type"] == "invalid_request_error"
    assert "TYMPAN_MAX_UPLOAD_BYTES" in error["message"]


@pytest.mark.parametrize("path", ["/v1/audio/vad", "/v1/speakers", "/v1/audio/transcriptions"])
def test_chunked_upload_over_the_limit_gets_413(small_limit, path) -> None:
    url, _ = small_limit
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post(
            path, content=_multipart(MAX_UPLOAD + _MULTIPART_OVERHEAD + 1), headers=headers
        )
        assert "content-length" not in response.request.headers  # really chunked
        _assert_too_large(response)
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/v1/speakers").json() == []  # nothing written


def test_declared_length_over_the_limit_gets_413_unread(small_limit) -> None:
    url, _ = small_limit
    body = b"".join(_multipart(MAX_UPLOAD + _MULTIPART_OVERHEAD + 1))
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    with httpx.Client(base_url=url, timeout=60) as client:
        _assert_too_large(client.post("/v1/speakers", content=body, headers=headers))
        small = client.post(
            "/v1/audio/vad", files={"file": CLIP.open("rb")}, data={"method": "energy"}
        )
        assert small.status_code == 200  # under the limit, chunked or not, still served


def test_chunked_upload_under_the_limit_is_served(small_limit) -> None:
    url, _ = small_limit

    def clip_form() -> Iterator[bytes]:
        yield (
            b'--b\r\nContent-Disposition: form-data; name="method"\r\n\r\nenergy\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.flac"\r\n'
            b"Content-Type: audio/flac\r\n\r\n"
        )
        yield CLIP.read_bytes()
        yield b"\r\n--b--\r\n"

    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    response = httpx.post(f"{url}/v1/audio/vad", content=clip_form(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["duration"] > 0
