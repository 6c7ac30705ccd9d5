"""Prompts in, pieces out: MIDI files (pretty_midi/mido), ABC strings and note lists (music21).

Every prompt becomes a monophonic ``Melody``: polyphonic input is reduced to its top line
(the highest note sounding at each onset), which is the usual melody reduction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

from tympan.budgets import over_budget
from tympan.errors import BadRequest, PayloadTooLarge
from tympan.tasks.music.corpus import melody_from_stream
from tympan.tasks.music.melody import Melody, Meter, MusicKey, Note, quantise

__all__ = [
    "MAX_PROMPT_NOTES",
    "PromptInfo",
    "melody_from_notes",
    "midi_event_count",
    "parse_abc",
    "parse_midi",
    "write_midi",
]

MAX_PROMPT_NOTES = 20_000
TEMPO_RANGE = (20.0, 300.0)


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """A parsed prompt and what its file said (None where it said nothing)."""

    notes: tuple[Note, ...]
    key: MusicKey | None = None
    meter: Meter | None = None
    pickup: Fraction = Fraction(0)
    tempo: float | None = None


def _top_line(notes: list[Note]) -> tuple[Note, ...]:
    """The highest sounding line (skyline): a note under a sounding higher one is dropped, a
    higher note entering cuts the one it interrupts."""
    ordered = sorted(notes, key=lambda note: (note.onset, -(note.pitch or 0)))
    line: list[Note] = []
    for note in ordered:
        last = line[-1] if line else None
        if last is not None and note.onset < last.end:
            if note.onset == last.onset or (note.pitch or 0) <= (last.pitch or 0):
                continue
            line[-1] = Note(last.onset, note.onset - last.onset, last.pitch, last.velocity)
        line.append(note)
    return tuple(line)


def melody_from_notes(notes: list[Note]) -> tuple[Note, ...]:
    """A clean monophonic line from any notes (quantised, top line, no empty notes)."""
    kept = [
        Note(quantise(float(note.onset)), quantise(float(note.duration)), note.pitch, note.velocity)
        for note in notes
        if note.pitch is not None
    ]
    return _top_line([note for note in kept if note.duration > 0])


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    """A MIDI variable-length number at ``pos``: its value and the position after it."""
    value = 0
    for _ in range(4):
        if pos >= len(data):
            break
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return value, pos


def _track_events(data: bytes, pos: int, end: int, stop_after: int) -> int:
    """Events of one track chunk, counted without decoding them (stops at ``stop_after``)."""
    count, status = 0, 0
    while pos < end and count < stop_after:
        _, pos = _varlen(data, pos)  # delta time
        if pos >= end:
            break
        if data[pos] & 0x80:
            status, pos = data[pos], pos + 1
        if status == 0xFF:  # meta: type, length, data
            length, pos = _varlen(data, pos + 1)
            pos += length
        elif status in (0xF0, 0xF7):  # sysex: length, data
            length, pos = _varlen(data, pos)
            pos += length
        elif 0x80 <= status < 0xF0:  # channel message: 1 or 2 data bytes
            pos += 1 if 0xC0 <= status < 0xE0 else 2
        else:
            break  # malformed; the full parser says why
        count += 1
    return count


def midi_event_count(data: bytes, stop_after: int) -> int:
    """Events in every track of a Standard MIDI File, counted from the raw chunks before any
    parser builds objects for them; counting stops once past ``stop_after``."""
    if data[:4] != b"MThd":
        return 0  # not a MIDI file: the parser refuses it
    pos, count = 8 + int.from_bytes(data[4:8], "big"), 0
    while pos + 8 <= len(data) and count <= stop_after:
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "big")
        start, pos = pos + 8, pos + 8 + length
        if kind == b"MTrk":
            count += _track_events(data, start, min(pos, len(data)), stop_after + 1 - count)
    return count


def parse_midi(data: bytes, max_events: int | None = None) -> PromptInfo:
    """The melody of a Standard MIDI File; ``BadRequest`` (400) if it is not one or is empty.

    A file with more than ``max_events`` events is refused (413) before it is parsed.
    """
    import pretty_midi

    if not data:
        raise BadRequest("The MIDI prompt is empty.", param="prompt", code="invalid_midi")
    if max_events is not None:
        events = midi_event_count(data, max_events)
        if events > max_events:
            needed = f"more than {max_events:,} MIDI events"
            raise over_budget("max_midi_events", max_events, needed, param="prompt")
    try:
        score = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # mido and pretty_midi raise many kinds on a bad file
        raise BadRequest(
            f"The prompt is not a readable MIDI file ({type(exc).__name__}).",
            param="prompt",
            code="invalid_midi",
        ) from None
    resolution = score.resolution

    def beats(seconds: float) -> float:
        return score.time_to_tick(seconds) / resolution

    notes = [
        Note(
            Fraction(beats(n.start)),
            Fraction(beats(n.end) - beats(n.start)),
            n.pitch,
            n.velocity,
        )
        for instrument in score.instruments
        if not instrument.is_drum
        for n in instrument.notes
    ]
    if len(notes) > MAX_PROMPT_NOTES:
        message = f"The MIDI prompt has {len(notes)} notes; the limit is {MAX_PROMPT_NOTES}."
        raise PayloadTooLarge(message, param="prompt")
    line = melody_from_notes(notes)
    if not line:
        raise BadRequest("The MIDI prompt has no pitched notes.", param="prompt", code="no_notes")
    meter = key = None
    if score.time_signature_changes:
        change = score.time_signature_changes[0]
        meter = Meter(change.numerator, change.denominator)
    if score.key_signature_changes:
        number = score.key_signature_changes[0].key_number
        key = MusicKey(number % 12, "minor" if number >= 12 else "major")
    _, tempi = score.get_tempo_changes()
    # A file's tempo is a default, clamped to what a request may ask for (hostile files say
    # 60 million BPM).
    tempo = (
        min(max(round(float(tempi[0]), 3), TEMPO_RANGE[0]), TEMPO_RANGE[1]) if len(tempi) else None
    )
    return PromptInfo(line, key, meter, tempo=tempo)


def parse_abc(text: str) -> PromptInfo:
    """The melody of an ABC tune (music21); ``BadRequest`` (400) if it has no readable notes."""
    from music21 import converter

    try:
        parsed = converter.parseData(text, format="abc")
        melody = melody_from_stream(parsed)
    except Exception as exc:  # music21's ABC reader raises many kinds on bad input
        raise BadRequest(
            f"The ABC prompt could not be parsed ({type(exc).__name__}: {exc}).",
            param="abc",
            code="invalid_abc",
        ) from None
    if melody is None or not melody.pitched:
        raise BadRequest("The ABC prompt has no notes.", param="abc", code="invalid_abc")
    meter = melody.meter if "M:" in text else None
    return PromptInfo(melody.notes, melody.key, meter, melody.pickup)


def write_midi(melody: Melody, tempo: float, program: int = 0) -> bytes:
    """A Standard MIDI File of ``melody`` at ``tempo`` BPM on General MIDI ``program``."""
    import pretty_midi

    score = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    seconds_per_beat = 60.0 / tempo
    instrument = pretty_midi.Instrument(program=program, name="melody")
    for note in melody.pitched:
        instrument.notes.append(
            pretty_midi.Note(
                velocity=note.velocity,
                pitch=note.pitch,
                start=float(note.onset) * seconds_per_beat,
                end=float(note.end) * seconds_per_beat,
            )
        )
    score.instruments.append(instrument)
    meter, key = melody.meter, melody.key
    score.time_signature_changes.append(
        pretty_midi.TimeSignature(meter.numerator, meter.denominator, 0.0)
    )
    score.key_signature_changes.append(
        pretty_midi.KeySignature(key.tonic + (12 if key.mode == "minor" else 0), 0.0)
    )
    buffer = io.BytesIO()
    score.write(buffer)
    return buffer.getvalue()
