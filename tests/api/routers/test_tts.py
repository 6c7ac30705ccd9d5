"""``/v1/audio/speech`` and ``/v1/audio/voices`` through the SDK, raw HTTP and real sockets."""

from __future__ import annotations

import base64
import json
import time

import httpx
import numpy as np
import pytest

from tests.conftest import make_settings, services_of
from tests.hostile import db_fingerprint
from tympan.audio import decode_audio
from tympan.client import Client
from tympan.errors import BadRequest, InvalidParameter, ModelNotFound, PayloadTooLarge
from tympan.tasks.tts import DEFAULT_MODEL_ID, FORMATS, OPENAI_VOICES, PCM_RATE
from tympan.tasks.tts.voices import bundled_voice

SENTENCE = "The quick brown fox jumps over the lazy dog."
TEN_SENTENCES = " ".join(
    [
        "Good morning, everyone.",
        "Today we review the third quarter.",
        "Revenue grew by twelve percent.",
        "Costs were flat.",
        "Maria will present the roadmap.",
        "Are there any questions so far?",
        "Next, the hiring plan.",
        "We expect four new engineers.",
        "The offsite is on May fifth.",
        "Thank you all for coming.",
    ]
)


def duration_of(data: bytes, fmt: str) -> float:
    """Seconds of speech in ``data`` (``pcm`` is raw 24 kHz s16le, as OpenAI documents)."""
    if fmt == "pcm":
        return len(data) / 2 / PCM_RATE
    return decode_audio(data).duration


def post_speech(client: Client, **body: object) -> httpx.Response:
    return client._http.post("/v1/audio/speech", json=body)


def assert_error(response: httpx.Response, status: int, param: str | None, code: str | None = None):
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code


@pytest.fixture(scope="module")
def wav_seconds(api: Client) -> float:
    """Duration of SENTENCE in WAV (the reference the other formats are compared to)."""
    return duration_of(api.speech(SENTENCE, response_format="wav"), "wav")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_decodes_to_the_expected_duration(api, wav_seconds, fmt):
    response = post_speech(api, model="tts-1", input=SENTENCE, voice="alloy", response_format=fmt)
    assert response.status_code == 200, response.content[:300]
    assert response.headers["content-type"].startswith(FORMATS[fmt].media_type)
    assert response.headers["x-tympan-model"] == DEFAULT_MODEL_ID
    assert int(response.headers["x-tympan-sample-rate"]) == (FORMATS[fmt].rate or 22050)
    # Piper's duration predictor is stochastic (seen up to 8 % between calls) and codecs add
    # a few frames; exact sample counts per format are checked in tests/audio/test_encode.py.
    assert duration_of(response.content, fmt) == pytest.approx(wav_seconds, rel=0.15, abs=0.1)


def test_default_format_is_mp3_and_model_voice_optional(api):
    response = post_speech(api, input="Hello.")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["x-tympan-voice"] == "joe"
    assert 0.3 < duration_of(response.content, "mp3") < 3


def test_speed_changes_duration(api, wav_seconds):
    fast = duration_of(api.speech(SENTENCE, response_format="wav", speed=2.0), "wav")
    slow = duration_of(api.speech(SENTENCE, response_format="wav", speed=0.5), "wav")
    # Piper's durations vary (seen up to 8 %) between calls; the tempo change itself is exact.
    assert fast / wav_seconds == pytest.approx(0.5, rel=0.15)
    assert slow / wav_seconds == pytest.approx(2.0, rel=0.15)


def test_speech_is_intelligible_enough_to_have_energy_where_words_are(api):
    samples = decode_audio(api.speech(SENTENCE, response_format="flac")).samples
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    voiced = np.sqrt((frames**2).mean(axis=1)) > 0.02
    assert 0.4 < voiced.mean() < 0.98  # speech with pauses, not silence, not a constant tone


def test_every_openai_model_name_and_voice_is_served(api):
    for model in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", DEFAULT_MODEL_ID):
        assert post_speech(api, model=model, input="Hi.", voice="nova").status_code == 200
    for voice in (*OPENAI_VOICES, "joe", "Shimmer"):
        response = post_speech(api, input="Hi.", voice=voice, response_format="pcm")
        assert response.status_code == 200, voice
        assert response.headers["x-tympan-voice"] == "joe"
    as_object = post_speech(api, input="Hi.", voice={"id": "marin"}, instructions="Cheerful.")
    assert as_object.status_code == 200 and as_object.headers["x-tympan-voice"] == "joe"
    bad = post_speech(api, input="Hi.", voice={"name": "marin"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "voice"


def test_voices_lists_the_bundled_voice(api):
    (card,) = api.voices()
    assert card.id == "joe" and card.model == DEFAULT_MODEL_ID
    assert card.sample_rate == 22050 and card.language == "en_US"
    assert set(card.openai_voices) == set(OPENAI_VOICES)
    assert any(m["id"] == DEFAULT_MODEL_ID and m["task"] == "tts" for m in api.models())


def test_configured_voice_and_voice_map(tmp_path):
    settings = make_settings(
        tmp_path,
        tts_voices={"narrator": bundled_voice().model_path},
        tts_voice_map={"alloy": "narrator"},
    )
    with Client.in_process(settings) as client:
        cards = {card.id: card for card in client.voices()}
        assert cards["narrator"].model == "piper-narrator"
        assert cards["narrator"].openai_voices == ["alloy"]
        assert "alloy" not in cards["joe"].openai_voices
        picks = {
            ("tts-1", "alloy"): "narrator",
            ("tts-1", "echo"): "joe",
            ("piper-narrator", "echo"): "narrator",
            ("piper-narrator", "joe"): "joe",
            ("tts-1", "narrator"): "narrator",
        }
        for (model, voice), expected in picks.items():
            response = post_speech(client, model=model, input="Hi.", voice=voice)
            assert response.status_code == 200
            assert response.headers["x-tympan-voice"] == expected, (model, voice)
        assert services_of(client).manager.status("piper-narrator").loaded


# -- bad requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"input": ""}, 400, "input", "empty_input"),
        ({"input": " \n\t "}, 400, "input", "empty_input"),
        ({"input": "x" * 4097}, 413, "input", "input_too_long"),
        ({"input": "?! ... -- ?!"}, 400, "input", "nothing_to_speak"),
        ({"input": "<speak><break time='1s'/></speak>"}, 400, "input", "nothing_to_speak"),
        ({"input": "Hi.", "model": "tts-9"}, 404, "model", "model_not_found"),
        ({"input": "Hi.", "model": "silero-vad"}, 404, "model", "model_not_found"),
        ({"input": "Hi.", "voice": "darth"}, 400, "voice", "invalid_parameter"),
        ({"input": "Hi.", "response_format": "ogg"}, 400, "response_format", None),
        ({"input": "Hi.", "speed": 0.1}, 400, "speed", None),
        ({"input": "Hi.", "speed": 4.5}, 400, "speed", None),
        ({"input": "Hi.", "speed": "fast"}, 400, "speed", None),
        ({"input": "Hi.", "stream_format": "websocket"}, 400, "stream_format", None),
        ({"input": 42}, 400, "input", None),
        ({"voice": "alloy"}, 400, "input", None),
    ],
)
def test_bad_requests_get_openai_style_errors(api, services, body, status, param, code):
    before = db_fingerprint(services.db)
    assert_error(post_speech(api, **body), status, param, code)
    assert db_fingerprint(services.db) == before


def test_not_json_is_a_400(api):
    response = api._http.post("/v1/audio/speech", content=b"input=hello")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_sdk_raises_tympan_errors(api):
    with pytest.raises(BadRequest):
        api.speech("")
    with pytest.raises(PayloadTooLarge):
        api.speech("y" * 5000)
    with pytest.raises(ModelNotFound):
        api.speech("Hi.", model="nope")
    with pytest.raises(InvalidParameter):
        api.speech("Hi.", voice="nope")


def test_input_limit_is_a_setting(tmp_path):
    with Client.in_process(make_settings(tmp_path, tts_max_input_chars=20)) as client:
        assert post_speech(client, input="Short enough.").status_code == 200
        assert_error(post_speech(client, input="This one is far too long."), 413, "input")


# -- hostile text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Hello\x00 there,\x07 friend\x1b[31m.", id="control-characters"),
        pytest.param("Zalgo h\u0336\u0335e\u0334\u0337" + "\u0301" * 500 + "llo.", id="combining"),
        pytest.param("Emoji 😀🎉 and CJK 漢字 and Arabic مرحبا.", id="mixed-scripts"),
        pytest.param("\U0010fffd\U000e0001 private and tag characters here.", id="astral"),
        pytest.param("\u202eReversed\u202c text with\u200b zero widths.", id="bidi"),
        pytest.param("[[ ʃ ʃ ʃ ]] raw phoneme escape.", id="piper-escape"),
        pytest.param("bad \ud800 surrogate then words.", id="lone-surrogate"),
        pytest.param("a" * 1500, id="one-long-word"),
    ],
)
def test_hostile_text_is_spoken(api, text):
    body = json.dumps({"input": text, "response_format": "wav"})  # \u escapes carry surrogates
    response = api._http.post(
        "/v1/audio/speech", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.content[:300]
    assert 0.2 < duration_of(response.content, "wav") < 240


def test_markup_is_dropped_not_spelled_out(api):
    plain = duration_of(api.speech("Hello there, world.", response_format="wav"), "wav")
    marked = "<speak>Hello <break time='3s'/>there, <emphasis>world</emphasis>.</speak>"
    tagged = duration_of(api.speech(marked, response_format="wav"), "wav")
    assert tagged == pytest.approx(plain, rel=0.25)


def test_huge_unicode_input_is_refused_quickly(api):
    started = time.perf_counter()
    response = post_speech(api, input="😀漢" * 200_000)
    assert_error(response, 413, "input", "input_too_long")
    assert time.perf_counter() - started < 10


# -- real sockets: streaming and the official openai client ------------------------------


def test_long_input_streams_before_it_is_synthesised(live_server):
    body = {"model": "tts-1", "input": TEN_SENTENCES, "voice": "alloy", "response_format": "pcm"}
    with httpx.Client(base_url=live_server, timeout=300) as http:
        http.post("/v1/audio/speech", json={**body, "input": "Warm up."}).raise_for_status()
        started = time.perf_counter()
        arrivals, data = [], b""
        with http.stream("POST", "/v1/audio/speech", json=body) as response:
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            for chunk in response.iter_raw():
                arrivals.append(time.perf_counter() - started)
                data += chunk
    assert len(arrivals) >= 5, "one chunk per sentence or so"
    assert arrivals[0] < 0.5 * arrivals[-1], arrivals
    assert duration_of(data, "pcm") > 10


def test_sdk_streams_from_a_server(live_server):
    with Client(live_server) as client:
        chunks = list(client.speech_stream(TEN_SENTENCES[:200], response_format="opus"))
        assert len(chunks) >= 2
        assert duration_of(b"".join(chunks), "opus") > 3
        with pytest.raises(BadRequest):
            list(client.speech_stream("   "))


def test_openai_client_speaks_through_tympan(live_server):
    import openai

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="unused", max_retries=0)
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="wav", speed=1.25
    )
    assert 1.0 < duration_of(response.content, "wav") < 6
    mp3 = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=SENTENCE)
    assert 1.0 < duration_of(mp3.content, "mp3") < 6

    with client.audio.speech.with_streaming_response.create(
        model="tts-1-hd", voice="onyx", input=TEN_SENTENCES, response_format="pcm"
    ) as streamed:
        assert streamed.headers["content-type"] == "audio/pcm"
        chunks = list(streamed.iter_bytes(chunk_size=None))
    assert len(chunks) >= 3
    assert duration_of(b"".join(chunks), "pcm") > 10


def test_openai_client_reads_server_sent_events(live_server):
    import openai

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="unused", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="sage",
        input=TEN_SENTENCES,
        response_format="pcm",
        stream_format="sse",
    ) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[6:]) for line in streamed.iter_lines() if line.startswith("data: ")
        ]
    deltas = [event for event in events if event["type"] == "speech.audio.delta"]
    assert len(deltas) >= 3
    assert events[-1]["type"] == "speech.audio.done"
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert duration_of(audio, "pcm") > 10


def test_openai_client_sees_openai_errors(live_server):
    import openai

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="")
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-2", voice="alloy", input="Hi.")
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")


def test_an_admitted_stream_waits_out_a_full_queue(tmp_path):
    """The queue fills up between two sentences: the stream (already 200) waits, not breaks."""
    settings = make_settings(tmp_path, inference_threads=1, inference_queue_size=1)
    with Client.in_process(settings) as client:
        client.speech("Load the voice.")
        slots = services_of(client).manager._slots  # the executor's admission counter
        stream = client.speech_stream(TEN_SENTENCES, response_format="pcm")
        first = next(stream)  # admitted: the 200 and the first audio are out
        held = [slots.acquire(timeout=30) for _ in range(2)]  # every slot: the queue is full
        time.sleep(1.0)
        for _ in held:
            slots.release()
        assert duration_of(first + b"".join(stream), "pcm") > 10
        assert post_speech(client, input="Still serving.").status_code == 200
