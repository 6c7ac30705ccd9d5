"""``X-Request-ID``: kept or made, answered on every response, logged with the request."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import make_settings
from tests.live_server import serve_in_thread

KEYS = "admin-key,reader:read"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("request-id"), api_keys=KEYS)
    with serve_in_thread(settings) as base_url:
        yield base_url


def access_log(caplog: pytest.LogCaptureFixture, *needles: str) -> str:
    """The access log once it holds every needle: the server logs after its last byte is sent,
    so the line may land a moment after the client has the response."""
    deadline = time.monotonic() + 5
    while True:
        text = " ".join(r.getMessage() for r in caplog.records if r.name == "tympan.access")
        if all(needle in text for needle in needles) or time.monotonic() > deadline:
            return text
        time.sleep(0.02)


def get(url: str, path: str, **headers: str) -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": "Bearer admin-key", **headers})


def test_a_callers_id_is_answered_and_logged(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tympan.access"):
        response = get(url, "/v1/models", **{"X-Request-ID": "trace-42.a:b_c"})
        lines = access_log(caplog, "request_id=trace-42.a:b_c")
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42.a:b_c"
    assert re.search(r"GET /v1/models 200 [0-9.]+ ms request_id=trace-42\.a:b_c", lines)


def test_without_an_id_each_request_gets_a_new_one(url: str) -> None:
    first = get(url, "/v1/models").headers["x-request-id"]
    second = get(url, "/v1/models").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "new\\nline", "semi;colon"])
def test_a_malformed_id_is_replaced_not_echoed(url: str, bad: str) -> None:
    answered = get(url, "/v1/models", **{"X-Request-ID": bad}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_refusals_and_errors_carry_the_id_too(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tympan.access"):
        refused = httpx.get(url + "/v1/models", headers={"X-Request-ID": "no-key-1"})
        missing = get(url, "/v1/jobs/does-not-exist", **{"X-Request-ID": "missing-2"})
        lines = access_log(caplog, "request_id=no-key-1", "request_id=missing-2")
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "no-key-1"
    assert refused.json()["error"]["type"]
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "missing-2"
    assert "401" in lines and "request_id=no-key-1" in lines
    assert "404" in lines and "request_id=missing-2" in lines
    assert get(url, "/healthz").status_code == 200  # still answering
