"""``/v1/realtime`` with the official ``openai`` Node client (``OpenAIRealtimeWS``) over WSS.

The same scenario as the Python client's test: two spoken turns streamed faster than real
time; the Node client must see the session, both turns' VAD events, deltas and final text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.api.routers.test_realtime import SHORT, SHORT_TEXT, SMALL, SMALL_TEXT, at_24k
from tests.conftest import make_settings
from tests.live_audio import silence, speech, wer
from tests.live_server import serve_in_thread
from tests.node_client import node_script, run_node, self_signed_certificate


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real server speaking HTTPS/WSS on loopback, and the certificate to trust."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = self_signed_certificate(folder)
    with serve_in_thread(make_settings(folder), tls=(key, cert)) as url:
        yield url, cert


def test_node_openai_client_streams_two_turns_and_gets_their_text(tls_server, tmp_path) -> None:
    url, cert = tls_server
    audio = np.concatenate([silence(0.3), speech(SMALL), silence(1.2), speech(SHORT), silence(1.2)])
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes(at_24k(audio))
    events = run_node(
        node_script("realtime_transcribe.mjs"), url + "/v1", str(pcm), "2", trust=cert
    )
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    assert events[1]["session"]["audio"]["input"]["format"]["rate"] == 24000
    assert kinds.count("input_audio_buffer.speech_started") == 2
    assert kinds.count("input_audio_buffer.committed") == 2
    done = [e for e in events if e["type"].endswith("input_audio_transcription.completed")]
    assert wer(SMALL_TEXT, done[0]["transcript"]) < 0.3
    assert wer(SHORT_TEXT, done[1]["transcript"]) < 0.15
    assert any(kind.endswith("input_audio_transcription.delta") for kind in kinds)
