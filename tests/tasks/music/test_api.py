"""``POST /v1/music/generations`` and ``/v1/music/train`` through the SDK and raw HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import pretty_midi
import pytest

from tests.conftest import EVAL_DIR, services_of
from tests.hostile import db_fingerprint
from tests.tasks.music.conftest import opening
from tests.tasks.music.test_midi_io import ABC_TUNE
from tests.tasks.music.test_render import decode
from tympan.client import Client
from tympan.errors import ModelTraining, error_for_status
from tympan.tasks.music import Composition
from tympan.tasks.music.corpus import Piece

URL = "/v1/music/generations"


def _midi_notes(data: bytes) -> list[pretty_midi.Note]:
    return pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments[0].notes


def _pitches(data: bytes) -> list[tuple[float, int]]:
    return [(round(n.start, 4), n.pitch) for n in _midi_notes(data)]


def test_models_are_listed(music_api: Client) -> None:
    ids = [model["id"] for model in music_api.models("music")]
    assert ids[0] == "folk-lstm"
    assert {"folk-lstm", "folk-transformer", "folk-markov", "bach-lstm"} <= set(ids)


def test_midi_prompt_is_continued(music_api: Client, motif_midi: Path, held_out: Piece) -> None:
    data = music_api.music_generate(motif_midi, bars=4, seed=5)
    assert isinstance(data, bytes)
    notes = _midi_notes(data)
    motif = opening(held_out)
    kept = [(round(n.start * 2, 3), n.pitch) for n in notes[: len(motif.pitched)]]  # 120 BPM
    assert kept == [(float(n.onset), n.pitch) for n in motif.pitched]
    assert len(notes) > len(motif.pitched)
    beats_per_bar = float(motif.meter.bar_beats)
    end_beats = max(n.end for n in notes) * 2
    prompt_bars = -(-float(motif.length - motif.pickup) // beats_per_bar)
    assert end_beats <= float(motif.pickup) + (prompt_bars + 4) * beats_per_bar + 1e-6


def test_same_seed_same_piece(music_api: Client, motif_midi: Path) -> None:
    first = music_api.music_generate(motif_midi, bars=4, seed=21, model="folk-transformer")
    again = music_api.music_generate(motif_midi, bars=4, seed=21, model="folk-transformer")
    other = music_api.music_generate(motif_midi, bars=4, seed=22, model="folk-transformer")
    assert first == again
    assert _pitches(first) != _pitches(other)


def test_json_notes_in_key_and_bars(music_api: Client) -> None:
    piece = music_api.music_generate(
        bars=6, seed=3, key="D major", meter="3/4", stay_in_key=True, response_format="json"
    )
    assert isinstance(piece, Composition)
    assert (piece.key, piece.meter, piece.bars, piece.generated_bars) == ("D major", "3/4", 6, 6)
    assert piece.beats == 18 and piece.in_key == 1.0
    assert all(note.pitch % 12 in {2, 4, 6, 7, 9, 11, 1} for note in piece.notes)
    assert piece.seconds == pytest.approx(18 * 60 / 100)  # default tempo
    assert all(n.onset + n.duration <= 18 for n in piece.notes)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac"])
def test_audio_formats(music_api: Client, fmt: str) -> None:
    data = music_api.music_generate(
        bars=2, seed=4, meter="4/4", tempo=120, instrument=40, response_format=fmt
    )
    samples, rate = decode(data)  # type: ignore[arg-type]
    seconds = len(samples) / rate
    assert 4.0 <= seconds <= 4.0 + 2.5  # 2 bars of 4/4 at 120 BPM, plus the release tail
    assert abs(samples).max() > 0.05


def test_abc_and_note_prompts(music_api: Client) -> None:
    from_abc = music_api.music_generate(abc=ABC_TUNE, bars=2, seed=1, response_format="json")
    assert [n.pitch for n in from_abc.notes[:4]] == [67, 69, 71, 67]  # type: ignore[union-attr]
    assert from_abc.meter == "4/4" and from_abc.prompt_notes == 32  # type: ignore[union-attr]
    notes = [{"pitch": 60 + step, "onset": i, "duration": 1} for i, step in enumerate([0, 2, 4])]
    from_notes = music_api.music_generate(notes=notes, seconds=3, model="folk-markov", seed=1,
                                          response_format="json")  # fmt: skip
    assert [n.pitch for n in from_notes.notes[:3]] == [60, 62, 64]  # type: ignore[union-attr]
    assert from_notes.generated_bars == 2  # 3 s at 100 BPM = 5 beats -> 2 bars of 4/4


def _refused(client: Client, status: int, *, files=None, data=None, json=None, content=None,
             headers=None) -> dict:  # fmt: skip
    db = services_of(client).db
    before = db_fingerprint(db)
    response = client._http.post(
        URL, files=files, data=data, json=json, content=content, headers=headers
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["code"]
    assert db_fingerprint(db) == before
    return error


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("random.mid", bytes(range(256)) * 16),
        ("notes.mid", b"C D E F G A B c\nthis is a text file, not MIDI\n"),
        ("empty.mid", b""),
        ("header_only.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0"),
        ("text_named.wav", (EVAL_DIR / "bad_inputs" / "text_named.wav").read_bytes()),
        ("speech.ogg", (EVAL_DIR / "bad_inputs" / "speech.ogg").read_bytes()),
    ],
)
def test_hostile_midi(music_api: Client, name: str, data: bytes) -> None:
    error = _refused(music_api, 400, files={"prompt": (name, data)}, data={"bars": "2"})
    assert error["param"] == "prompt"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"bars": 100_000}, 413, "bars"),
        ({"seconds": 1e9}, 413, "bars"),
        ({"bars": 200, "tempo": 20}, 413, "bars"),
        ({"tempo": 100_000}, 400, "tempo"),
        ({"tempo": 0}, 400, "tempo"),
        ({"bars": 0}, 400, "bars"),
        ({"bars": 2, "seconds": 3}, 400, "bars"),
        ({"seconds": -1}, 400, "seconds"),
        ({"temperature": 0}, 400, "temperature"),
        ({"top_p": 2}, 400, "top_p"),
        ({"instrument": 128}, 400, "instrument"),
        ({"key": "H major"}, 400, "key"),
        ({"meter": "7/5"}, 400, "meter"),
        ({"meter": "fast"}, 400, "meter"),
        ({"response_format": "ogg"}, 400, "response_format"),
        ({"abc": "this is not a tune"}, 400, "abc"),
        ({"abc": ""}, 400, "abc"),
        ({"notes": []}, 400, "notes"),
        ({"notes": [{"pitch": 200, "onset": 0, "duration": 1}]}, 400, "notes.0.pitch"),
        ({"notes": [{"pitch": 60, "onset": 0, "duration": 0}]}, 400, "notes.0.duration"),
        ({"abc": ABC_TUNE, "notes": [{"pitch": 60, "onset": 0, "duration": 1}]}, 400, "abc"),
        ({"model": "no-such-model"}, 404, "model"),
        ({"model": "silero-vad"}, 404, "model"),
    ],
)
def test_bad_parameters(music_api: Client, body: dict, status: int, param: str) -> None:
    error = _refused(music_api, status, json=body)
    assert error["param"] == param, error


def _mido_file(events: list, *, drums: bool = False) -> bytes:
    """A one-track MIDI file of ``events`` (mido messages), written by mido itself."""
    import mido

    track = mido.MidiTrack(events)
    buffer = io.BytesIO()
    mido.MidiFile(tracks=[track], ticks_per_beat=480).save(file=buffer)
    return buffer.getvalue()


def _notes(count: int, *, channel: int = 0, gap: int = 240) -> list:
    import mido

    events = []
    for index in range(count):
        events.append(mido.Message("note_on", note=60 + index % 12, velocity=80, channel=channel,
                                   time=0))  # fmt: skip
        events.append(mido.Message("note_off", note=60 + index % 12, channel=channel, time=gap))
    return events


def test_hostile_midi_content(music_api: Client) -> None:
    import mido

    drums_only = _mido_file(_notes(8, channel=9))
    error = _refused(music_api, 400, files={"prompt": ("drums.mid", drums_only)})
    assert error["code"] == "no_notes"
    too_many = _mido_file(_notes(20_001, gap=1))
    _refused(music_api, 413, files={"prompt": ("many.mid", too_many)})
    far = [mido.Message("note_on", note=60, velocity=80, time=480 * 15_000),
           mido.Message("note_off", note=60, time=480)]  # fmt: skip
    _refused(music_api, 413, files={"prompt": ("far.mid", _mido_file(far))})


def test_absurd_tempo_in_a_midi_file_is_clamped(music_api: Client) -> None:
    import mido

    fast = _mido_file([mido.MetaMessage("set_tempo", tempo=1, time=0), *_notes(6)])
    piece = music_api.music_generate(fast, bars=1, seed=1, response_format="json")
    assert piece.tempo == 300.0  # type: ignore[union-attr]
    assert [n.pitch for n in piece.notes[:6]] == [60, 61, 62, 63, 64, 65]  # type: ignore[union-attr]


def test_bad_bodies(music_api: Client) -> None:
    _refused(music_api, 400, content=b"hello", headers={"content-type": "text/plain"})
    _refused(music_api, 400, content=b"{not json", headers={"content-type": "application/json"})


def test_first_request_for_an_untrained_model_trains_it(music_api: Client) -> None:
    response = music_api._http.post(URL, json={"model": "bach-markov", "bars": 2, "seed": 1})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "model_not_trained" and error["param"] == "model"
    assert error["job_id"].startswith("job_") and error["job_id"] in error["message"]
    assert response.headers["Location"] == f"/v1/jobs/{error['job_id']}"
    assert int(response.headers["Retry-After"]) >= 1
    rebuilt = error_for_status(409, response.json())  # what the SDK raises
    assert isinstance(rebuilt, ModelTraining) and rebuilt.job_id == error["job_id"]
    assert music_api._http.get(response.headers["Location"]).json()["id"] == error["job_id"]
    job = music_api.music_train("bach-markov")  # joins the job the request started
    assert job["id"] == error["job_id"]
    assert job["status"] == "succeeded" and job["result"]["style"] == "bach"
    piece = music_api.music_generate(model="bach-markov", bars=2, seed=1, response_format="json")
    assert piece.notes  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "no-such-model"}, 404, "model"),
        ({"model": "silero-vad"}, 404, "model"),
        ({"model": "folk-lstm", "max_seconds": 0}, 400, "max_seconds"),
        ({"model": "folk-lstm", "max_seconds": "soon"}, 400, "max_seconds"),
    ],
)
def test_bad_train_requests(music_api: Client, body: dict, status: int, param: str) -> None:
    db = services_of(music_api).db
    before = db_fingerprint(db)
    response = music_api._http.post("/v1/music/train", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert db_fingerprint(db) == before
