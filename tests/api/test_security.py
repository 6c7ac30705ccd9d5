"""The request guard: network bind, Host (DNS rebinding), Origin, and scoped API keys.

Each refusal is checked for its status, its OpenAI-style body naming the setting, that nothing
was written, and that the service still answers.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import openai
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from tests.conftest import EVAL_DIR, make_settings
from tests.hostile import db_fingerprint
from tests.live_server import serve_in_thread
from tympan.api.app import create_app
from tympan.api.security import Caller, parse_api_key

CLIP = EVAL_DIR / "fsdd" / "audio" / "0_george_0.flac"
LOOPBACK = "http://127.0.0.1:8000"
KEYS = "adm,reader:read,tx:transcribe,teamkey:admin@teamA"
ALLOWED_ORIGIN = "https://app.example.com"
EVIL = "https://evil.example"


def _clip() -> dict:
    return {"file": ("clip.flac", CLIP.read_bytes(), "audio/flac")}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code
    return error


def _db(client: TestClient) -> str:
    return db_fingerprint(client.app.state.services.db)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def open_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The default deployment: loopback, no keys; one browser origin and one proxy name allowed."""
    settings = make_settings(
        tmp_path_factory.mktemp("open"),
        cors_origins=ALLOWED_ORIGIN,
        allowed_hosts="tympan.internal",
    )
    with TestClient(create_app(settings), base_url=LOOPBACK) as client:
        yield client


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("keyed"), api_keys=KEYS)
    with TestClient(create_app(settings), base_url=LOOPBACK) as client:
        yield client


# -- Origin ------------------------------------------------------------------------------------


def test_cross_origin_multipart_post_is_refused_before_any_work(open_service) -> None:
    before = _db(open_service)
    response = open_service.post(
        "/v1/speakers", data={"name": "Mallory"}, files=_clip(), headers={"Origin": EVIL}
    )
    error = _error(response, 403, "origin_not_allowed")
    assert error["type"] == "permission_error" and error["param"] == "origin"
    assert "TYMPAN_CORS_ORIGINS" in error["message"] and EVIL in error["message"]
    assert "access-control-allow-origin" not in response.headers
    assert _db(open_service) == before
    assert open_service.get("/v1/speakers").json() == []


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:9999", "http://localhost"])
def test_reads_from_a_foreign_origin_are_refused(open_service, origin) -> None:
    response = open_service.get("/v1/models", headers={"Origin": origin})
    _error(response, 403, "origin_not_allowed")
    assert open_service.get("/healthz").json()["status"] == "ok"


def test_allowed_and_same_origins_pass_with_cors_headers(open_service) -> None:
    response = open_service.get("/v1/models", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    same = open_service.get("/v1/models", headers={"Origin": LOOPBACK})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
    allowed = open_service.options("/v1/audio/vad", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    refused = open_service.options("/v1/audio/vad", headers={"Origin": EVIL, **preflight})
    _error(refused, 403, "origin_not_allowed")


# -- Host ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_foreign_host_on_loopback_is_refused(open_service, host) -> None:
    response = open_service.get("/v1/models", headers={"Host": host})
    error = _error(response, 403, "host_not_allowed")
    assert "TYMPAN_ALLOWED_HOSTS" in error["message"] and error["param"] == "host"
    before = _db(open_service)
    refused = open_service.post(
        "/v1/speakers", data={"name": "Rebound"}, files=_clip(), headers={"Host": host}
    )
    _error(refused, 403, "host_not_allowed")
    assert _db(open_service) == before


@pytest.mark.parametrize(
    "host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST", "tympan.internal"]
)
def test_loopback_and_allowed_hosts_pass(open_service, host) -> None:
    assert open_service.get("/v1/models", headers={"Host": host}).status_code == 200


# -- network bind --------------------------------------------------------------------------------


def test_app_refuses_to_start_on_a_network_address_without_keys(tmp_path) -> None:
    with pytest.raises(ValueError, match="TYMPAN_API_KEYS"):
        create_app(make_settings(tmp_path, host="0.0.0.0"))
    create_app(make_settings(tmp_path, host="0.0.0.0", insecure=True))
    create_app(make_settings(tmp_path, host="0.0.0.0", api_keys="k"))
    with pytest.raises(ValueError, match="scope 'root'"):
        create_app(make_settings(tmp_path, api_keys="k:root"))


def test_requests_reaching_a_network_address_without_keys_are_refused(tmp_path) -> None:
    """An app served by other means (uvicorn --host) still refuses keyless network traffic."""
    with TestClient(create_app(make_settings(tmp_path)), base_url="http://192.0.2.7:8000") as c:
        error = _error(c.get("/v1/models"), 403, "insecure_bind")
        assert "TYMPAN_API_KEYS" in error["message"] and "TYMPAN_INSECURE" in error["message"]
        _error(c.post("/v1/audio/vad", files=_clip()), 403, "insecure_bind")
    insecure = make_settings(tmp_path, insecure=True)
    with TestClient(create_app(insecure), base_url="http://192.0.2.7:8000") as c:
        assert c.get("/v1/models").status_code == 200
        assert c.get("/v1/models", headers={"Host": "anything.example"}).status_code == 200


# -- keys and scopes -----------------------------------------------------------------------------


def test_key_syntax() -> None:
    assert parse_api_key("k1").caller == Caller("admin", "default")
    assert parse_api_key("k2:read").caller == Caller("read", "default")
    assert parse_api_key("k3:transcribe@teamB").caller == Caller("transcribe", "teamB")
    assert parse_api_key("k4@teamA").caller == Caller("admin", "teamA")
    assert "k4" not in repr(parse_api_key("k4@teamA"))
    assert parse_api_key("k5@").caller == Caller("admin", "default")
    for bad in (":read", "k:owner", "k@bad/ns", "k@.hidden"):
        with pytest.raises(ValueError, match="TYMPAN_API_KEYS"):
            parse_api_key(bad)


def test_missing_or_wrong_keys_get_401_and_health_stays_open(keyed_service) -> None:
    assert keyed_service.get("/healthz").status_code == 200
    for headers in ({}, _bearer("wrong"), {"Authorization": "Basic adm"}):
        response = keyed_service.get("/v1/models", headers=headers)
        _error(response, 401, "invalid_api_key")
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("key", "method", "path", "allowed"),
    [
        ("reader", "GET", "/v1/models", True),
        ("reader", "GET", "/v1/speakers", True),
        ("reader", "POST", "/v1/audio/vad", False),
        ("reader", "POST", "/v1/speakers", False),
        ("reader", "DELETE", "/v1/speakers/spk_x", False),
        ("tx", "POST", "/v1/audio/vad", True),
        ("tx", "GET", "/v1/models", True),
        ("tx", "GET", "/v1/models/silero-vad", True),
        ("tx", "GET", "/v1/audio/voices", True),
        ("tx", "GET", "/v1/jobs/job_x", False),
        ("tx", "GET", "/v1/speakers", False),
        ("tx", "POST", "/v1/speakers", False),
        ("tx", "POST", "/v1/classifiers", False),
        ("tx", "POST", "/v1/classifiers/x/promote", False),
        ("adm", "POST", "/v1/audio/vad", True),
        ("adm", "GET", "/v1/speakers", True),
    ],
)
def test_key_scopes(keyed_service, key, method, path, allowed) -> None:
    before = _db(keyed_service)
    files = _clip() if method == "POST" else None
    data = {"name": "Scoped", "method": "energy"} if method == "POST" else None
    response = keyed_service.request(method, path, headers=_bearer(key), files=files, data=data)
    if allowed:
        assert response.status_code == 200, response.text
    else:
        error = _error(response, 403, "scope_not_allowed")
        assert "TYMPAN_API_KEYS" in error["message"] and "'admin'" in error["message"]
        assert _db(keyed_service) == before
    assert keyed_service.get("/healthz").status_code == 200


def test_unauthenticated_bodies_are_refused_unread(tmp_path) -> None:
    """Over a real socket: the 401/403 comes while the declared body has not been sent."""
    settings = make_settings(tmp_path, api_keys=KEYS)
    with serve_in_thread(settings) as url:
        port = int(url.rsplit(":", 1)[1])

        def answer(headers: str, wait: float) -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
                sock.sendall(headers.encode())
                try:
                    return sock.recv(4096)
                except TimeoutError:
                    return b""

        declared = (
            "POST /v1/speakers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 150000000\r\n{}\r\n"
        )
        chunked = (
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "10\r\n--x\r\nContent-Dis\r\n"
        )
        started = time.monotonic()
        assert answer(declared.format(""), 10).startswith(b"HTTP/1.1 401")
        assert answer(declared.format("Authorization: Bearer wrong\r\n"), 10).startswith(
            b"HTTP/1.1 401"
        )
        assert answer(declared.format("Authorization: Bearer reader\r\n"), 10).startswith(
            b"HTTP/1.1 403"
        )
        assert answer(chunked, 10).startswith(b"HTTP/1.1 401")
        assert time.monotonic() - started < 10
        # control: a valid key makes the server wait for the body it was promised
        assert answer(declared.format("Authorization: Bearer adm\r\n"), 1.5) == b""
        assert openai.OpenAI(base_url=f"{url}/v1", api_key="adm").models.list().data


def test_openai_client_sees_scopes(live_keyed_url) -> None:
    reader = openai.OpenAI(base_url=f"{live_keyed_url}/v1", api_key="reader", max_retries=0)
    assert reader.models.list().data
    with pytest.raises(openai.PermissionDeniedError) as info:
        reader.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"))
    assert "scope 'read'" in info.value.message
    stranger = openai.OpenAI(base_url=f"{live_keyed_url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    transcriber = openai.OpenAI(base_url=f"{live_keyed_url}/v1", api_key="tx", max_retries=0)
    text = transcriber.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb")).text
    assert isinstance(text, str)


@pytest.fixture(scope="module")
def live_keyed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_in_thread(make_settings(tmp_path_factory.mktemp("live"), api_keys=KEYS)) as url:
        yield url


# -- WebSocket handshakes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Origin": EVIL, "Authorization": "Bearer tx"}, 403, "origin_not_allowed"),
        ({}, 401, "invalid_api_key"),
        (
            {"Sec-WebSocket-Protocol": "realtime, openai-insecure-api-key.bad"},
            401,
            "invalid_api_key",
        ),
        ({"Authorization": "Bearer reader"}, 403, "scope_not_allowed"),
    ],
)
def test_websocket_handshakes_are_checked(keyed_service, headers, status, code) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        keyed_service.websocket_connect("/v1/realtime", headers=headers),
    ):
        pass
    _error(info.value, status, code)


def test_websocket_handshake_with_a_foreign_host_is_denied_on_a_real_socket(live_keyed_url) -> None:
    """uvicorn's WebSocket denial carries the same error body as HTTP refusals."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    port = int(live_keyed_url.rsplit(":", 1)[1])
    refusals = [  # (the name in the URL becomes the Host header)
        ("evil.example", {"Authorization": "Bearer tx"}, 403, "host_not_allowed"),
        ("127.0.0.1", {"Origin": EVIL, "Authorization": "Bearer tx"}, 403, "origin_not_allowed"),
        ("localhost", {}, 401, "invalid_api_key"),
    ]
    for host, headers, status, code in refusals:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        url = f"ws://{host}:{port}/v1/realtime"
        with pytest.raises(InvalidStatus) as info:
            connect(url, sock=sock, additional_headers=headers, open_timeout=10).close()
        sock.close()
        response = info.value.response
        assert response.status_code == status
        assert json.loads(response.body)["error"]["code"] == code
