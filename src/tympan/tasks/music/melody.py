"""``Melody``: a monophonic line in quarter-note time, with its key, meter and pickup.

Every input (corpus piece, MIDI, ABC, JSON notes) becomes a ``Melody`` and every output is
made from one, so the tokeniser, the metrics and the writers share one description of music.
Times are in quarter notes ("beats"), quantised to ``GRID`` steps of a quarter so that both
sixteenths and triplets are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np

from tympan.errors import InvalidParameter

__all__ = [
    "GRID",
    "MAJOR_SCALE",
    "MINOR_SCALE",
    "PITCH_NAMES",
    "Melody",
    "Meter",
    "Mode",
    "MusicKey",
    "Note",
    "estimate_key",
    "in_key_fraction",
    "pitch_class_histogram",
    "quantise",
]

GRID = 12
"""Steps per quarter note: multiples of 3 are sixteenths, multiples of 4 are eighth triplets."""

Mode = Literal["major", "minor"]
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone (harmonic)


def quantise(beats: float) -> Fraction:
    """``beats`` rounded to the nearest grid step."""
    return Fraction(round(beats * GRID), GRID)


@dataclass(frozen=True, slots=True)
class Note:
    """One note (``pitch`` a MIDI number) or, with ``pitch`` None, a rest; times in beats."""

    onset: Fraction
    duration: Fraction
    pitch: int | None
    velocity: int = 90

    @property
    def end(self) -> Fraction:
        return self.onset + self.duration


@dataclass(frozen=True, slots=True)
class Meter:
    """A time signature such as 3/4 or 6/8."""

    numerator: int = 4
    denominator: int = 4

    @property
    def bar_beats(self) -> Fraction:
        """Quarter notes in one bar."""
        return Fraction(4 * self.numerator, self.denominator)

    @classmethod
    def parse(cls, text: str) -> Meter:
        """``"6/8"`` -> ``Meter(6, 8)``; ``InvalidParameter`` if it is not a usable meter."""
        numerator, _, denominator = text.strip().partition("/")
        try:
            meter = cls(int(numerator), int(denominator))
        except ValueError:
            message = f"meter {text!r} is not N/D (e.g. 3/4)."
            raise InvalidParameter(message, param="meter") from None
        if not 1 <= meter.numerator <= 32 or meter.denominator not in (1, 2, 4, 8, 16):
            raise InvalidParameter(f"meter {text!r} is out of range.", param="meter")
        return meter

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True, slots=True)
class MusicKey:
    """A key: tonic pitch class (0 = C) and mode."""

    tonic: int = 0
    mode: Mode = "major"

    @property
    def scale(self) -> frozenset[int]:
        """Pitch classes that belong to the key."""
        steps = MAJOR_SCALE if self.mode == "major" else MINOR_SCALE
        return frozenset((self.tonic + step) % 12 for step in steps)

    def transposed(self, semitones: int) -> MusicKey:
        return MusicKey((self.tonic + semitones) % 12, self.mode)

    @classmethod
    def parse(cls, text: str) -> MusicKey:
        """``"G"``, ``"g minor"``, ``"F# major"``, ``"Bb"`` -> ``MusicKey``."""
        name, _, mode = text.strip().partition(" ")
        names = {n.lower(): i for i, n in enumerate(PITCH_NAMES)}
        names.update({"db": 1, "d#": 3, "gb": 6, "g#": 8, "a#": 10, "cb": 11, "e#": 5, "b#": 0})
        mode = mode.strip().lower() or ("minor" if name[:1].islower() else "major")
        tonic = names.get(name.lower().replace("-", "b"))
        if tonic is None or mode not in ("major", "minor"):
            message = f"key {text!r} is not e.g. 'G major' or 'e minor'."
            raise InvalidParameter(message, param="key")
        return cls(tonic, mode)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"


@dataclass(frozen=True, slots=True)
class Melody:
    """A monophonic line: notes (and rests) in time order, key, meter, and the pickup length.

    ``pickup`` is the number of beats before the first bar line (0 when the line starts on a
    downbeat); bar lines fall at ``pickup + k * meter.bar_beats``.
    """

    notes: tuple[Note, ...]
    key: MusicKey = field(default_factory=MusicKey)
    meter: Meter = field(default_factory=Meter)
    pickup: Fraction = Fraction(0)

    @property
    def length(self) -> Fraction:
        """Beats from the start to the end of the last event."""
        return self.notes[-1].end if self.notes else Fraction(0)

    @property
    def pitched(self) -> list[Note]:
        """The notes, without the rests."""
        return [note for note in self.notes if note.pitch is not None]


def pitch_class_histogram(melodies: list[Melody]) -> np.ndarray:
    """Duration-weighted pitch-class distribution (12 values summing to 1) of ``melodies``."""
    histogram = np.zeros(12)
    for melody in melodies:
        for note in melody.pitched:
            histogram[note.pitch % 12] += float(note.duration)  # type: ignore[operator]
    total = histogram.sum()
    return histogram / total if total else histogram


def in_key_fraction(melody: Melody) -> float:
    """Share of the notes whose pitch class belongs to the melody's key (1.0 if none)."""
    notes = melody.pitched
    if not notes:
        return 1.0
    scale = melody.key.scale
    return sum(note.pitch % 12 in scale for note in notes) / len(notes)  # type: ignore[operator]


def estimate_key(notes: tuple[Note, ...]) -> MusicKey:
    """The most likely key of a line, by music21's Krumhansl-Schmuckler key finding."""
    from music21 import note as m21note
    from music21 import stream

    line = stream.Stream()
    for item in notes:
        if item.pitch is not None:
            element = m21note.Note(item.pitch)
            element.quarterLength = float(item.duration)
            line.append(element)
    if not len(line):
        return MusicKey()
    found = line.analyze("key")
    return MusicKey(found.tonic.pitchClass, "minor" if found.mode == "minor" else "major")
