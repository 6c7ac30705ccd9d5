"""``/v1/realtime`` with the official ``openai`` client and a raw WebSocket, on a live server.

Real speech from ../shared/eval is streamed faster than real time (the core's own tests stream
at real time); bad events, limits and dropped clients each get an error event or a clean
close, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import importlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soxr
import websockets
from openai import AsyncOpenAI
from websockets.asyncio.client import connect

from tests.conftest import EVAL_DIR, make_settings
from tests.live_audio import pcm16, silence, speech, wer
from tests.live_server import serve_in_thread
from tests.noisy_audio import noisy_speech
from tympan.metrics import INFERENCE_SECONDS
from tympan.tasks.streaming import LiveSession

with warnings.catch_warnings():  # the reference G.711 encoder: deprecated, still in 3.11/3.12
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = importlib.import_module("audioop")

KEY = "live-test-key"
SHORT = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
SHORT_TEXT = "in being comparatively modern."
SMALL = EVAL_DIR / "asr_small" / "ps_librivox_sense_and_sensibility_01_0880.flac"
SMALL_TEXT = "he was not an ill disposed young man"


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with API keys and small live limits (2 sessions, 3 s of buffered audio)."""
    settings = make_settings(
        tmp_path_factory.mktemp("realtime"),
        api_keys=[KEY],
        realtime_max_sessions=2,
        realtime_max_buffer_seconds=3.0,
    )
    with serve_in_thread(settings) as url:
        yield url


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/v1/realtime?intent=transcription"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def at_24k(samples: np.ndarray) -> bytes:
    return pcm16(soxr.resample(samples, 16_000, 24_000))


def transcription_session(model: str) -> dict[str, Any]:
    """A GA transcription session: 24 kHz PCM, English, server VAD with 500 ms of silence."""
    return {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": model, "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            }
        },
    }


async def until(connection: Any, kind: str, count: int = 1) -> list[Any]:
    """Every event up to the ``count``-th of type ``kind``."""
    seen: list[Any] = []
    async for event in connection:
        seen.append(event)
        if sum(e.type == kind for e in seen) == count:
            return seen
    raise AssertionError(f"the connection closed before {count} {kind}")


def test_openai_client_gets_turns_deltas_and_final_text_of_streamed_speech(live_server):
    async def scenario() -> list[Any]:
        client = AsyncOpenAI(base_url=live_server + "/v1", api_key="unused")
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            await conn.session.update(session=transcription_session("gpt-4o-transcribe"))
            audio = np.concatenate(
                [silence(0.3), speech(SMALL), silence(1.2), speech(SHORT), silence(1.2)]
            )
            data = at_24k(audio)
            for start in range(0, len(data), 9600):  # 200 ms chunks, 4x real time
                await conn.input_audio_buffer.append(audio=b64(data[start : start + 9600]))
                await asyncio.sleep(0.05)
            return await until(conn, "conversation.item.input_audio_transcription.completed", 2)

    events = asyncio.run(scenario())
    kinds = [e.type for e in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    assert events[1].session.audio.input.format.rate == 24000
    assert kinds.count("input_audio_buffer.speech_started") == 2
    assert kinds.count("input_audio_buffer.speech_stopped") == 2
    committed = [e for e in events if e.type == "input_audio_buffer.committed"]
    done = [e for e in events if e.type.endswith("transcription.completed")]
    assert [c.item_id for c in committed] == [d.item_id for d in done]
    assert committed[1].previous_item_id == committed[0].item_id
    assert wer(SMALL_TEXT, done[0].transcript) < 0.3
    assert wer(SHORT_TEXT, done[1].transcript) < 0.15
    assert done[0].usage.type == "duration" and done[0].usage.seconds > 2.5
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    assert 0 <= started.audio_start_ms <= 300  # 0.3 s of silence, minus the prefix padding
    assert any(e.type.endswith("transcription.delta") for e in events)


LJ_1 = EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac"
LJ_1_TEXT = (
    "Printing, in the only sense with which we are at present concerned, differs from most "
    "if not from all the arts and crafts represented in the Exhibition"
)
LJ_1_CUT = 6.48  # after "...differs from most if not from all": mid-sentence


def test_semantic_vad_ends_a_finished_sentence_early_and_waits_out_an_unfinished_one(
    live_server,
):
    """semantic_vad (auto = medium: 0.3 s after a finished sentence, at most 4 s). LJ001-0001
    stops 2.5 s mid-sentence ("...from all", no full stop in Whisper's text), goes on, ends;
    2.5 s later LJ001-0002. The first pause is waited out (one turn of the whole sentence);
    the 2.5 s after the finished sentence, shorter than the 4 s server VAD would wait, ends
    its turn: the judge ended it. Streamed at real time, as a speaker talks; the last turn
    may end by the closing commit (its judge can be late on a loaded machine)."""
    first = speech(LJ_1)
    cut = round(LJ_1_CUT * 16_000)
    audio = np.concatenate(
        [silence(0.5), first[:cut], silence(2.5), first[cut:], silence(2.5), speech(SHORT)]
    )
    audio = np.concatenate([audio, silence(1.0)])

    async def scenario() -> list[Any]:
        client = AsyncOpenAI(base_url=live_server + "/v1", api_key="unused")
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            session = transcription_session("gpt-4o-transcribe")
            session["audio"]["input"]["turn_detection"] = {"type": "semantic_vad"}
            await conn.session.update(session=session)
            data = at_24k(audio)
            for start in range(0, len(data), 4800):  # 100 ms chunks at real time
                await conn.input_audio_buffer.append(audio=b64(data[start : start + 4800]))
                await asyncio.sleep(0.1)
            await conn.input_audio_buffer.commit()  # a turn still open ends here
            completed = until(conn, "conversation.item.input_audio_transcription.completed", 2)
            return await asyncio.wait_for(completed, 60)

    events = asyncio.run(scenario())
    detection = events[1].session.audio.input.turn_detection
    assert (detection.type, detection.eagerness) == ("semantic_vad", "auto")
    done = [e for e in events if e.type.endswith("transcription.completed")]
    assert wer(LJ_1_TEXT, done[0].transcript) < 0.15, done[0].transcript
    assert wer(SHORT_TEXT, done[1].transcript) < 0.15, done[1].transcript
    stops = [e.audio_end_ms for e in events if e.type == "input_audio_buffer.speech_stopped"]
    assert stops[0] > 1000 * (0.5 + LJ_1_CUT + 2.5), "the unfinished sentence ended the turn"


def test_beta_session_with_g711_manual_commits_and_logprobs(live_server):
    mulaw = audioop.lin2ulaw(pcm16(soxr.resample(speech(SHORT), 16_000, 8_000)), 2)

    async def scenario() -> list[Any]:
        client = AsyncOpenAI(base_url=live_server + "/v1", api_key="unused")
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            await conn.send(
                {
                    "type": "transcription_session.update",
                    "session": {
                        "input_audio_format": "g711_ulaw",
                        "input_audio_transcription": {"model": "whisper-1"},
                        "turn_detection": None,
                        "include": ["item.input_audio_transcription.logprobs"],
                    },
                }
            )
            for start in range(0, len(mulaw), 1600):
                await conn.input_audio_buffer.append(audio=b64(mulaw[start : start + 1600]))
            await conn.input_audio_buffer.commit()
            return await until(conn, "conversation.item.input_audio_transcription.completed")

    events = asyncio.run(scenario())
    assert events[1].type == "transcription_session.updated"
    assert not any(e.type == "input_audio_buffer.speech_started" for e in events)
    final = events[-1]
    assert wer(SHORT_TEXT, final.transcript) < 0.15
    assert len(final.logprobs) >= 3
    assert all(p.logprob <= 0 and p.bytes == list(p.token.encode()) for p in final.logprobs)


def test_noise_reduction_in_the_session_enhances_live_audio(live_server):
    noisy, _ = noisy_speech(10.0)

    def enhancing_seconds() -> float:  # the server runs in this process
        return INFERENCE_SECONDS.labels("enhancement", "rnnoise")._sum.get()

    async def scenario(kind: str | None) -> tuple[dict[str, Any], str]:
        async with connect(ws_url(live_server)) as ws:
            await ws.recv()  # session.created
            audio_input: dict[str, Any] = {"turn_detection": None}
            if kind is not None:
                audio_input["noise_reduction"] = {"type": kind}
            session = {"type": "transcription", "audio": {"input": audio_input}}
            await ws.send(json.dumps({"type": "session.update", "session": session}))
            updated = json.loads(await ws.recv())
            data = at_24k(noisy)
            for start in range(0, len(data), 9600):
                append = {
                    "type": "input_audio_buffer.append",
                    "audio": b64(data[start : start + 9600]),
                }
                await ws.send(json.dumps(append))
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            async for message in ws:
                event = json.loads(message)
                if event["type"].endswith("transcription.completed"):
                    return updated, event["transcript"]
            raise AssertionError("no transcript")

    before = enhancing_seconds()
    updated, enhanced = asyncio.run(scenario("near_field"))
    assert updated["session"]["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    assert wer(SHORT_TEXT, enhanced) < 0.5  # 10 dB SNR, through RNNoise
    assert enhancing_seconds() > before, "the audio did not go through RNNoise"
    middle = enhancing_seconds()
    updated, _ = asyncio.run(scenario(None))
    assert updated["session"]["audio"]["input"]["noise_reduction"] is None
    assert enhancing_seconds() == middle

    async def refused() -> dict[str, Any]:
        async with connect(ws_url(live_server)) as ws:
            await ws.recv()
            session = {
                "type": "transcription",
                "audio": {"input": {"noise_reduction": {"type": "loud"}}},
            }
            return await _error_after(
                ws, json.dumps({"type": "session.update", "session": session})
            )

    error = asyncio.run(refused())
    assert error["type"] == "error" and "noise_reduction" in error["error"]["param"]


async def _error_after(ws: Any, message: str | bytes) -> dict[str, Any]:
    await ws.send(message)
    return json.loads(await ws.recv())


def test_bad_events_each_get_an_error_event_and_the_session_keeps_working(live_server):
    bad: list[tuple[str | bytes, str, str | None]] = [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "bad_request", "type"),
        (json.dumps({"type": "response.create"}), "invalid_event_type", "type"),
        (
            json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@"}),
            "invalid_base64",
            "audio",
        ),
        (
            json.dumps({"type": "input_audio_buffer.append", "audio": 42}),
            "invalid_parameter",
            "audio",
        ),
        (b"\x00\x01raw bytes", "bad_request", None),
        (
            json.dumps({"type": "session.update", "session": {"type": "realtime"}}),
            "invalid_value",
            "session.type",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"audio": {"input": {"turn_detection": {"type": "vad"}}}},
                }
            ),
            "invalid_value",
            "session.audio.input.turn_detection.type",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "audio": {
                            "input": {
                                "turn_detection": {"type": "semantic_vad", "eagerness": "eager"}
                            }
                        }
                    },
                }
            ),
            "invalid_value",
            "session.audio.input.turn_detection.eagerness",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "audio": {
                            "input": {
                                "turn_detection": {
                                    "type": "semantic_vad",
                                    "silence_duration_ms": 200,
                                }
                            }
                        }
                    },
                }
            ),
            "invalid_value",
            "session.audio.input.turn_detection.silence_duration_ms",
        ),
        (
            json.dumps(
                {
                    "type": "transcription_session.update",
                    "session": {"turn_detection": {"type": "semantic_vad", "eagerness": 2}},
                }
            ),
            "invalid_value",
            "session.turn_detection.eagerness",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}
                    },
                }
            ),
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"audio": {"input": {"format": {"type": "audio/flac"}}}},
                }
            ),
            "invalid_value",
            "session.audio.input.format.type",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"audio": {"input": {"transcription": {"model": "no-such-model"}}}},
                }
            ),
            "model_not_found",
            "model",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "audio": {
                            "input": {"turn_detection": {"type": "server_vad", "threshold": 3}}
                        }
                    },
                }
            ),
            "invalid_parameter",
            "threshold",
        ),
        (
            json.dumps({"type": "input_audio_buffer.commit", "event_id": "evt_1"}),
            "input_audio_buffer_commit_empty",
            None,
        ),
    ]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with connect(ws_url(live_server)) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            errors = [await _error_after(ws, message) for message, _, _ in bad]
            await ws.send(
                json.dumps(
                    {
                        "type": "session.update",
                        "session": {
                            "audio": {
                                "input": {
                                    "format": {"type": "audio/pcm", "rate": 24000},
                                    "turn_detection": None,
                                }
                            }
                        },
                    }
                )
            )
            await ws.send(
                json.dumps(
                    {"type": "input_audio_buffer.append", "audio": b64(at_24k(speech(SHORT)))}
                )
            )
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            after: list[dict[str, Any]] = []
            while not after or not after[-1]["type"].endswith("completed"):
                after.append(json.loads(await ws.recv()))
            return errors, after

    errors, after = asyncio.run(scenario())
    for event, (_, code, param) in zip(errors, bad, strict=True):
        assert event["type"] == "error", event
        assert set(event["error"]) >= {"message", "type", "code", "param"}
        assert (event["error"]["code"], event["error"]["param"]) == (code, param), event
    assert errors[-1]["error"]["event_id"] == "evt_1"
    assert wer(SHORT_TEXT, after[-1]["transcript"]) < 0.15


def _auth(key: str = KEY) -> dict[str, Any]:
    return {"additional_headers": {"Authorization": f"Bearer {key}"}}


def test_keys_are_required_by_header_or_browser_subprotocol(limited_server):
    async def scenario() -> tuple[int, str, str]:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with connect(ws_url(limited_server)):
                pass
        subprotocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
        async with connect(ws_url(limited_server), subprotocols=subprotocols) as ws:
            by_subprotocol = json.loads(await ws.recv())["type"]
            chosen = ws.subprotocol
        client = AsyncOpenAI(base_url=limited_server + "/v1", api_key=KEY)
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            assert (await conn.recv()).type == "session.created"
        return refused.value.response.status_code, by_subprotocol, chosen

    status, by_subprotocol, chosen = asyncio.run(scenario())
    assert status == 401
    assert by_subprotocol == "session.created" and chosen == "realtime"


def test_sessions_past_the_limit_are_refused_by_name_until_one_closes(limited_server):
    async def scenario() -> tuple[dict[str, Any], int, str]:
        async with connect(ws_url(limited_server), **_auth()) as first:
            await first.recv()
            async with connect(ws_url(limited_server), **_auth()) as second:
                await second.recv()
                async with connect(ws_url(limited_server), **_auth()) as third:
                    refusal = json.loads(await third.recv())
                    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                        await third.recv()
        async with connect(ws_url(limited_server), **_auth()) as again:
            created = json.loads(await again.recv())["type"]
        return refusal, closed.value.rcvd.code, created

    refusal, close_code, created = asyncio.run(scenario())
    assert refusal["type"] == "error" and refusal["error"]["code"] == "session_limit"
    assert "TYMPAN_REALTIME_MAX_SESSIONS" in refusal["error"]["message"]
    assert close_code == 1013
    assert created == "session.created"


def test_audio_over_the_buffer_limit_is_refused_and_what_fits_is_transcribed(limited_server):
    async def scenario() -> tuple[dict[str, Any], str]:
        async with connect(ws_url(limited_server), **_auth()) as ws:
            await ws.recv()
            await ws.send(
                json.dumps(
                    {
                        "type": "session.update",
                        "session": {"audio": {"input": {"turn_detection": None}}},
                    }
                )
            )
            await ws.recv()
            too_much = at_24k(silence(4.0))
            refusal = await _error_after(
                ws, json.dumps({"type": "input_audio_buffer.append", "audio": b64(too_much)})
            )
            data = at_24k(speech(SHORT))
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(data)}))
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            while (event := json.loads(await ws.recv()))["type"] != (
                "conversation.item.input_audio_transcription.completed"
            ):
                pass
            return refusal, event["transcript"]

    refusal, transcript = asyncio.run(scenario())
    assert refusal["error"]["code"] == "input_audio_buffer_full"
    assert "TYMPAN_REALTIME_MAX_BUFFER_SECONDS" in refusal["error"]["message"]
    assert wer(SHORT_TEXT, transcript) < 0.15


def test_a_thousand_sessions_opened_and_dropped_leave_no_session_behind(limited_server):
    chunk = json.dumps({"type": "input_audio_buffer.append", "audio": b64(at_24k(silence(0.2)))})

    async def churn(count: int) -> None:
        for index in range(count):
            ws = await connect(ws_url(limited_server), **_auth())
            await ws.recv()
            if index % 2:
                await ws.send(chunk)  # dropped mid-stream, audio still in flight
            if index % 3 == 0:
                ws.transport.abort()  # no closing handshake at all
            else:
                await ws.close()

    async def both_slots() -> list[str]:
        async with (
            connect(ws_url(limited_server), **_auth()) as first,
            connect(ws_url(limited_server), **_auth()) as second,
        ):
            return [json.loads(await first.recv())["type"], json.loads(await second.recv())["type"]]

    async def scenario() -> list[str]:
        await asyncio.gather(churn(500), churn(500))
        for _ in range(50):  # an aborted socket is noticed at the server's next read
            answers = await both_slots()
            if answers == ["session.created"] * 2:
                break
            await asyncio.sleep(0.2)
        return answers

    assert asyncio.run(scenario()) == ["session.created", "session.created"]
    health = httpx.get(limited_server + "/healthz", timeout=30)
    assert health.status_code == 200
    # The server runs in this process: none of the 1,000 sessions is still alive.
    gc.collect()
    assert sum(type(obj) is LiveSession for obj in gc.get_objects()) == 0
