"""Prompt parsing (MIDI, ABC, notes) and MIDI writing, on real corpus music."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import mido
import pretty_midi
import pytest

from tests.tasks.music.conftest import opening
from tympan.errors import BadRequest, BudgetExceeded
from tympan.tasks.music import Note, melody_from_notes, parse_abc, parse_midi, write_midi
from tympan.tasks.music.corpus import Piece
from tympan.tasks.music.midi_io import midi_event_count

ABC_TUNE = """X:1
T:Speed the Plough
M:4/4
L:1/8
K:G
GABG DGBd|egfa gedB|cBAG FGAF|GBAG FDEF|
"""


def test_chorale_written_by_music21_reduces_to_its_top_line(tmp_path: Path) -> None:
    from music21 import corpus

    chorale = corpus.parse("bach/bwv66.6")
    path = tmp_path / "bwv66.6.mid"
    chorale.write("midi", fp=str(path))
    prompt = parse_midi(path.read_bytes())
    soprano = [n for n in chorale.parts[0].flatten().notes]
    assert [note.pitch for note in prompt.notes[:8]] == [n.pitch.midi for n in soprano[:8]]
    assert prompt.meter is not None and str(prompt.meter) == "4/4"
    assert all(b.onset >= a.end for a, b in zip(prompt.notes, prompt.notes[1:], strict=False))


def test_written_midi_reads_back(held_out: Piece) -> None:
    melody = opening(held_out)
    data = write_midi(melody, 90.0, program=73)
    score = pretty_midi.PrettyMIDI(io.BytesIO(data))
    assert score.instruments[0].program == 73
    assert [n.pitch for n in score.instruments[0].notes] == [n.pitch for n in melody.pitched]
    back = parse_midi(data)
    assert back.notes == tuple(melody.pitched)
    assert (back.key, back.meter, back.tempo) == (melody.key, melody.meter, 90.0)


def test_abc_prompt() -> None:
    prompt = parse_abc(ABC_TUNE)
    assert [n.pitch for n in prompt.notes[:4]] == [67, 69, 71, 67]
    assert str(prompt.meter) == "4/4" and prompt.key is not None and prompt.key.tonic == 7


@pytest.mark.parametrize("text", ["", "this is not a tune", "X:1\nK:C\n|]"])
def test_abc_without_notes_is_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_abc(text)


def _smf(division: int, track: bytes, *, tracks: int = 1, declared: int | None = None) -> bytes:
    """A hand-made Standard MIDI File: header fields and one track chunk, possibly lying."""
    header = b"MThd" + struct.pack(">IHHH", 6, 0, tracks, division)
    return header + b"MTrk" + struct.pack(">I", declared or len(track)) + track


_NOTE = bytes([0x00, 0x90, 60, 80, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00])
_ZERO_TEMPO = bytes([0x00, 0xFF, 0x51, 0x03, 0, 0, 0])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MThd\x00\x00\x00\x06",
        b"hello, this is text\n" * 20,
        bytes(range(256)) * 8,
        _smf(0, _NOTE),
        _smf(0xE728, _NOTE),
        _smf(480, _NOTE, tracks=65535),
        _smf(480, _NOTE, declared=10**9),
        _smf(480, _ZERO_TEMPO + _NOTE),
    ],
    ids=[
        "empty",
        "truncated_header",
        "text",
        "random_bytes",
        "zero_division",
        "smpte_time",
        "missing_tracks",
        "lying_track_length",
        "zero_tempo",
    ],
)
def test_not_midi_is_refused(data: bytes) -> None:
    with pytest.raises(BadRequest) as error:
        parse_midi(data)
    assert error.value.param == "prompt"


def test_notes_become_a_monophonic_line() -> None:
    chord_then_note = [
        Note(Fraction(0), Fraction(2), 60),
        Note(Fraction(0), Fraction(2), 64),
        Note(Fraction(1), Fraction(1), 67),
    ]
    line = melody_from_notes(chord_then_note)
    assert [(n.onset, n.duration, n.pitch) for n in line] == [(0, 1, 64), (1, 1, 67)]
    under = [Note(Fraction(0), Fraction(2), 72), Note(Fraction(1), Fraction(2), 60)]
    assert [(n.onset, n.pitch) for n in melody_from_notes(under)] == [(0, 72)]


def midi_of(notes: int) -> bytes:
    """A MIDI file of ``notes`` piano notes (written by pretty_midi, in memory)."""
    score = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [
        pretty_midi.Note(80, 60 + i % 12, i * 0.25, i * 0.25 + 0.2) for i in range(notes)
    ]
    score.instruments.append(piano)
    buffer = io.BytesIO()
    score.write(buffer)
    return buffer.getvalue()


def test_midi_events_are_counted_without_parsing() -> None:
    data = midi_of(100)
    parsed = sum(len(track) for track in mido.MidiFile(file=io.BytesIO(data)).tracks)
    assert midi_event_count(data, 10**6) == parsed
    assert midi_event_count(data, 10) == 11  # stops once past the limit
    assert midi_event_count(b"not midi", 10) == 0


def test_parse_midi_refuses_too_many_events_and_takes_the_limit_itself() -> None:
    data = midi_of(100)
    events = midi_event_count(data, 10**6)
    assert len(parse_midi(data, max_events=events).notes) == 100
    with pytest.raises(BudgetExceeded) as info:
        parse_midi(data, max_events=events - 1)
    assert "TYMPAN_MAX_MIDI_EVENTS" in info.value.message and info.value.param == "prompt"
