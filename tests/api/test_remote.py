"""The SDK over real HTTP against a uvicorn server on loopback."""

from __future__ import annotations

import pytest

from tympan.client import Client
from tympan.errors import InvalidAudio


def test_remote_client(live_server, eval_dir) -> None:
    with Client(live_server) as client:
        assert client.health()["status"] == "ok"
        result = client.vad(eval_dir / "bad_inputs" / "speech.m4a", "silero")
        assert result.segments and result.duration == pytest.approx(1.92, abs=0.05)
        with pytest.raises(InvalidAudio):
            client.vad(b"not audio at all")
