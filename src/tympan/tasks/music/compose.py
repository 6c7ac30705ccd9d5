"""Compose: a prompt (or nothing) plus a trained model -> a whole piece, checked against limits.

This is the task function the API, CLI and benchmarks share: resolve key, meter and length,
tokenise the prompt, sample the continuation, decode it, and describe the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from tympan.budgets import over_budget
from tympan.errors import InvalidParameter
from tympan.models.threads import torch_threads
from tympan.tasks.music.melody import Melody, Meter, MusicKey, estimate_key, in_key_fraction
from tympan.tasks.music.midi_io import TEMPO_RANGE, PromptInfo
from tympan.tasks.music.models import SequenceModel
from tympan.tasks.music.sampling import SamplingOptions, continue_sequence, sample_header
from tympan.tasks.music.tokens import BAR, decode, encode

__all__ = ["Composition", "GeneratedPiece", "MusicNote", "MusicOptions", "compose", "describe"]

DEFAULT_TEMPO = 100.0


@dataclass(frozen=True, slots=True)
class MusicOptions:
    """What to make: length (``bars`` or ``seconds``), tempo, key/meter overrides, sampling."""

    bars: int | None = None
    seconds: float | None = None
    tempo: float | None = None
    key: MusicKey | None = None
    meter: Meter | None = None
    sampling: SamplingOptions = field(default_factory=SamplingOptions)

    def validate(self) -> None:
        """``InvalidParameter`` (400) for values out of range (limits are checked later)."""
        self.sampling.validate()
        if self.bars is not None and self.seconds is not None:
            raise InvalidParameter("Give bars or seconds, not both.", param="bars")
        if self.bars is not None and self.bars < 1:
            raise InvalidParameter("bars must be >= 1.", param="bars")
        if self.seconds is not None and not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise InvalidParameter("seconds must be a positive number.", param="seconds")
        low, high = TEMPO_RANGE
        if self.tempo is not None and not low <= self.tempo <= high:
            raise InvalidParameter(f"tempo must be within {low:g}..{high:g} BPM.", param="tempo")


@dataclass(frozen=True, slots=True)
class MusicNote:
    """One note of a piece: times in beats (quarter notes) and in seconds at the tempo."""

    onset: float
    duration: float
    pitch: int
    velocity: int
    onset_seconds: float
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class Composition:
    """A generated piece as JSON: its notes, and what it was made with."""

    model: str
    seed: int
    key: str
    meter: str
    tempo: float
    bars: int
    generated_bars: int
    prompt_notes: int
    beats: float
    seconds: float
    in_key: float
    notes: list[MusicNote]


@dataclass(frozen=True, slots=True)
class GeneratedPiece:
    """A whole piece (prompt + continuation) and how it was made."""

    melody: Melody
    generated_bars: int
    tempo: float
    prompt_notes: int


def _length_in_bars(options: MusicOptions, meter: Meter, tempo: float) -> int:
    if options.seconds is not None:
        return max(1, math.ceil(options.seconds / (float(meter.bar_beats) * 60.0 / tempo)))
    return options.bars or 8


def compose(
    model: SequenceModel,
    prompt: PromptInfo | None,
    options: MusicOptions,
    *,
    max_bars: int,
    max_seconds: float,
    threads: int = 1,
) -> GeneratedPiece:
    """The prompt continued by the model, or a piece from scratch.

    ``BudgetExceeded`` (413) when the request asks for more than ``max_bars`` bars or the
    whole piece would last longer than ``max_seconds``. Networks run on ``threads`` threads.
    """
    options.validate()
    with torch_threads(threads):
        return _compose(model, prompt, options, max_bars, max_seconds)


def _compose(
    model: SequenceModel,
    prompt: PromptInfo | None,
    options: MusicOptions,
    max_bars: int,
    max_seconds: float,
) -> GeneratedPiece:
    tempo = options.tempo or (prompt.tempo if prompt else None) or DEFAULT_TEMPO
    if prompt is not None:
        key = options.key or prompt.key or estimate_key(prompt.notes)
        meter = options.meter or prompt.meter or Meter()
        opening = Melody(prompt.notes, key, meter, prompt.pickup)
        ids = encode(opening, end=False)
    else:
        ids = [*sample_header(model, options.key, options.meter, options.sampling), BAR]
        header = decode(ids)
        key = options.key or header.key
        meter = options.meter or header.meter
        opening = Melody((), key, meter)
    bars = _length_in_bars(options, meter, tempo)
    _check_limits(opening, meter, bars, tempo, max_bars, max_seconds)
    ids = continue_sequence(model, ids, bars, meter, key, options.sampling)
    velocities = {note.onset: note.velocity for note in opening.notes}
    notes = tuple(
        replace(note, velocity=velocities.get(note.onset, note.velocity))
        if note.onset < opening.length
        else note
        for note in decode(ids).notes
    )
    melody = Melody(notes, key, meter, opening.pickup)
    return GeneratedPiece(melody, bars, tempo, len(opening.pitched))


def _check_limits(
    opening: Melody, meter: Meter, bars: int, tempo: float, max_bars: int, max_seconds: float
) -> None:
    if bars > max_bars:
        raise over_budget("music_max_bars", max_bars, f"{bars:,} bars", param="bars")
    beats = opening.length + meter.bar_beats * (bars + 1)  # +1: completing the prompt's bar
    seconds = float(beats) * 60.0 / tempo
    if seconds > max_seconds:
        needed = (
            f"a piece of about {seconds:.0f} s (ask for fewer bars, a shorter prompt or a "
            "faster tempo)"
        )
        raise over_budget("music_max_seconds", max_seconds, needed, param="bars")


def describe(piece: GeneratedPiece, model_id: str, seed: int) -> Composition:
    """The JSON view of a generated piece."""
    melody, tempo = piece.melody, piece.tempo
    seconds_per_beat = 60.0 / tempo
    bars_after_pickup = math.ceil((melody.length - melody.pickup) / melody.meter.bar_beats)
    notes = [
        MusicNote(
            float(note.onset),
            float(note.duration),
            note.pitch,
            note.velocity,
            round(float(note.onset) * seconds_per_beat, 6),
            round(float(note.duration) * seconds_per_beat, 6),
        )
        for note in melody.notes
        if note.pitch is not None
    ]
    return Composition(
        model=model_id,
        seed=seed,
        key=str(melody.key),
        meter=str(melody.meter),
        tempo=tempo,
        bars=bars_after_pickup + (1 if melody.pickup else 0),
        generated_bars=piece.generated_bars,
        prompt_notes=piece.prompt_notes,
        beats=float(melody.length),
        seconds=round(float(melody.length) * seconds_per_beat, 6),
        in_key=round(in_key_fraction(melody), 4),
        notes=notes,
    )
