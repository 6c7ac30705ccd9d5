"""Security: what the request guard costs an accepted request, and what a refusal saves.

1. Guard overhead: ``check_connection`` (network, Host, Origin, key, scope) timed alone against
   one whole ``GET /v1/models`` through the app over loopback, in the same run.
2. Refusal before the body: over a real socket, the time to an answer for a large upload
   declared with no key (401 from the headers alone) against the same upload sent with a valid
   key (read, spooled and refused by the decoder), interleaved, min over repeats.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import time
from pathlib import Path

import httpx
from tests.live_server import serve_in_thread

from benchmarks._harness import markdown_table, ratio, time_call
from tympan.api.security import AccessPolicy, check_connection
from tympan.config import Settings

UPLOAD_MB = 64
REPEATS = 5
KEYS = "admin-key,reader:read,tx:transcribe@teamA"


def _settings(data_dir: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        api_keys=KEYS,
        cors_origins="https://app.example.com",
        max_upload_bytes=(UPLOAD_MB + 8) * 1024 * 1024,
    )


def _scope(port: int) -> dict:
    headers = [
        (b"host", f"127.0.0.1:{port}".encode()),
        (b"origin", b"https://app.example.com"),
        (b"authorization", b"Bearer tx"),
    ]
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/audio/transcriptions",
        "headers": headers,
        "server": ("127.0.0.1", port),
    }


def _overhead(url: str, settings: Settings) -> list[list[object]]:
    policy = AccessPolicy.from_settings(settings)
    scope = _scope(int(url.rsplit(":", 1)[1]))
    loops = 2000
    guard = time_call(lambda: [check_connection(scope, policy) for _ in range(loops)], REPEATS)
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer admin-key"}) as client:
        request = time_call(lambda: client.get("/v1/models").raise_for_status(), REPEATS * 4)
    per_check = guard.min / loops
    return [
        ["check_connection (one request's checks)", per_check * 1e6, "-"],
        ["GET /v1/models over loopback (whole request)", request.min * 1e6, "-"],
        ["guard share of the request", "-", ratio(per_check, request.min)],
    ]


def _time_to_answer(port: int, key: str | None, body: bytes) -> tuple[float, bytes]:
    """Send headers, then the body as fast as the server takes it; seconds to the status line."""
    headers = (
        "POST /v1/audio/vad HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(body)}\r\n"
        + (f"Authorization: Bearer {key}\r\n" if key else "")
        + "Connection: close\r\n\r\n"
    )
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(headers.encode())
        sock.setblocking(False)
        view, sent, answer = memoryview(body), 0, b""
        while not answer:
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(64)
            if not answer and sent < len(body):
                try:
                    sent += sock.send(view[sent : sent + (1 << 20)])
                except BlockingIOError:
                    time.sleep(0.0005)
            elif not answer:
                time.sleep(0.0005)
        return time.perf_counter() - started, answer.split(b"\r\n", 1)[0]


def _refusal(url: str) -> list[list[object]]:
    port = int(url.rsplit(":", 1)[1])
    junk = b"\x01" * (UPLOAD_MB * 1024 * 1024)
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="junk.wav"\r\n\r\n'
        + junk
        + b"\r\n--b--\r\n"
    )
    unauthenticated, authenticated = [], []
    statuses = {}
    for _ in range(REPEATS):  # interleaved
        seconds, status = _time_to_answer(port, None, body)
        unauthenticated.append(seconds)
        statuses["none"] = status.decode()
        seconds, status = _time_to_answer(port, "admin-key", body)
        authenticated.append(seconds)
        statuses["admin"] = status.decode()
    return [
        [f"{UPLOAD_MB} MB upload, no key", statuses["none"], min(unauthenticated) * 1e3],
        [f"{UPLOAD_MB} MB upload, admin key", statuses["admin"], min(authenticated) * 1e3],
        [
            "time to refuse, no key / admin key",
            "-",
            ratio(min(unauthenticated), min(authenticated)),
        ],
    ]


def run() -> str:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = _settings(Path(data_dir))
        with serve_in_thread(settings) as url:
            overhead = _overhead(url, settings)
            refusal = _refusal(url)
    return "\n\n".join(
        [
            "Guard cost on an accepted request (min over repeats, same run):",
            markdown_table(["what", "microseconds", "ratio"], overhead),
            f"Refusal before the body, over a real socket (interleaved, min of {REPEATS}):",
            markdown_table(["request", "answer", "ms to the status line / ratio"], refusal),
        ]
    )
