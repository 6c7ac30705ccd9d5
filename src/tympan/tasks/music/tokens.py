"""Event tokens: a ``Melody`` as ``BOS KEY METER (BAR | event DUR)* EOS`` and back.

An event is a ``PITCH_n``, a ``REST`` or a ``HOLD`` (which lengthens the previous event: a
note tied over a bar line, or a duration no single token covers). A ``BAR`` marks every bar
line the line reaches, so a pickup shows as events before the first ``BAR``. The key and meter
tokens up front condition everything after them; transposing a sequence shifts its pitches and
its key token together (the augmentation training uses).
"""

from __future__ import annotations

from fractions import Fraction

from tympan.tasks.music.melody import GRID, Melody, Meter, MusicKey, Note

__all__ = [
    "DURATION_STEPS",
    "LOWEST_PITCH",
    "VOCAB",
    "Vocabulary",
    "decode",
    "encode",
    "split_duration",
    "transpose",
]

LOWEST_PITCH, HIGHEST_PITCH = 36, 96
DURATION_STEPS = (1, 2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 36, 48)
"""Durations a ``DUR`` token can say, in grid steps (12 per quarter): 16th, triplet, 8th, ..."""
METERS = ("2/4", "3/4", "4/4", "2/2", "3/2", "4/2", "6/8", "9/8", "12/8", "3/8", "6/4", "5/4")


class Vocabulary:
    """Every token, with index lookups by kind."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self.tokens = tokens
        self._index = {token: i for i, token in enumerate(tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self._index[token]

    def ids(self, prefix: str) -> list[int]:
        """Indices of every token starting with ``prefix``."""
        return [i for i, token in enumerate(self.tokens) if token.startswith(prefix)]

    def pitch_id(self, pitch: int) -> int:
        return self.id(f"PITCH_{pitch}")

    def duration_id(self, steps: int) -> int:
        return self.id(f"DUR_{steps}")

    def key_id(self, key: MusicKey) -> int:
        return self.id(f"KEY_{key.tonic}_{key.mode}")

    def meter_id(self, meter: Meter) -> int:
        name = str(meter)
        return self.id(f"METER_{name}" if name in METERS else "METER_other")


def _build_vocabulary() -> Vocabulary:
    tokens = ["PAD", "BOS", "EOS", "BAR", "REST", "HOLD"]
    tokens += [f"KEY_{tonic}_{mode}" for mode in ("major", "minor") for tonic in range(12)]
    tokens += [f"METER_{name}" for name in (*METERS, "other")]
    tokens += [f"PITCH_{pitch}" for pitch in range(LOWEST_PITCH, HIGHEST_PITCH + 1)]
    tokens += [f"DUR_{steps}" for steps in DURATION_STEPS]
    return Vocabulary(tuple(tokens))


VOCAB = _build_vocabulary()
PAD, BOS, EOS, BAR, REST, HOLD = range(6)
HIGHEST_PITCH_ID = VOCAB.pitch_id(HIGHEST_PITCH)
LOWEST_PITCH_ID = VOCAB.pitch_id(LOWEST_PITCH)


def split_duration(steps: int) -> list[int]:
    """``steps`` as a sum of ``DURATION_STEPS``, largest first (greedy; 1 is a step)."""
    parts = []
    for size in sorted(DURATION_STEPS, reverse=True):
        while steps >= size:
            parts.append(size)
            steps -= size
    return parts


def _fold_pitch(pitch: int) -> int:
    """Move a pitch by octaves into the vocabulary's range."""
    while pitch < LOWEST_PITCH:
        pitch += 12
    while pitch > HIGHEST_PITCH:
        pitch -= 12
    return pitch


def encode(melody: Melody, *, end: bool = True) -> list[int]:
    """Token ids of ``melody`` (with ``EOS`` unless ``end`` is False, for a prompt)."""
    bar = int(melody.meter.bar_beats * GRID)
    pickup = int(melody.pickup * GRID) % bar
    ids = [BOS, VOCAB.key_id(melody.key), VOCAB.meter_id(melody.meter)]
    position = 0  # grid steps from the start
    next_bar = pickup

    def advance_to(target: int, event: int) -> None:
        """Emit ``event`` then ``HOLD``s lasting up to ``target``, with bars between."""
        nonlocal position, next_bar
        first = True
        while position < target:
            if position == next_bar:
                ids.append(BAR)
                next_bar += bar
            span = min(target, next_bar) - position
            for steps in split_duration(span):
                ids.extend((event if first else HOLD, VOCAB.duration_id(steps)))
                first = False
            position += span
        if position == next_bar:
            ids.append(BAR)
            next_bar += bar

    if position == next_bar:
        ids.append(BAR)
        next_bar += bar
    for note in melody.notes:
        onset, stop = int(note.onset * GRID), int(note.end * GRID)
        if onset > position:
            advance_to(onset, REST)
        if stop > position:
            event = REST if note.pitch is None else VOCAB.pitch_id(_fold_pitch(note.pitch))
            advance_to(stop, event)
    if end:
        ids.append(EOS)
    return ids


def decode(ids: list[int]) -> Melody:
    """The ``Melody`` of a token sequence.

    Positions come from the durations alone (bar tokens only place the pickup), so a sequence
    whose bars do not add up still decodes to the notes it says.
    """
    key, meter = MusicKey(), Meter()
    notes: list[Note] = []
    position, first_bar = 0, None
    pending: int | None = None  # the event awaiting its duration
    for token_id in ids:
        token = VOCAB.tokens[token_id]
        if token.startswith("KEY_"):
            _, tonic, mode = token.split("_")
            key = MusicKey(int(tonic), mode)  # type: ignore[arg-type]
        elif token.startswith("METER_") and token != "METER_other":
            meter = Meter.parse(token.removeprefix("METER_"))
        elif token_id == BAR and first_bar is None:
            first_bar = position
        elif token_id in (REST, HOLD) or token.startswith("PITCH_"):
            pending = token_id
        elif token.startswith("DUR_") and pending is not None:
            steps = int(token.removeprefix("DUR_"))
            duration = Fraction(steps, GRID)
            if pending == HOLD and notes:
                last = notes[-1]
                notes[-1] = Note(last.onset, last.duration + duration, last.pitch, last.velocity)
            else:
                pitch = None if pending in (REST, HOLD) else int(VOCAB.tokens[pending][6:])
                notes.append(Note(Fraction(position, GRID), duration, pitch))
            position += steps
            pending = None
    notes = _merge_rests(notes)
    pickup = Fraction(first_bar or 0, GRID)
    return Melody(tuple(notes), key, meter, pickup)


def _merge_rests(notes: list[Note]) -> list[Note]:
    merged: list[Note] = []
    for note in notes:
        if merged and note.pitch is None and merged[-1].pitch is None:
            merged[-1] = Note(merged[-1].onset, merged[-1].duration + note.duration, None)
        else:
            merged.append(note)
    return merged


def transpose(ids: list[int], semitones: int) -> list[int] | None:
    """The sequence moved by ``semitones`` (pitches and key), or None if a pitch leaves range."""
    moved = []
    for token_id in ids:
        token = VOCAB.tokens[token_id]
        if token.startswith("PITCH_"):
            token_id += semitones
            if not LOWEST_PITCH_ID <= token_id <= HIGHEST_PITCH_ID:
                return None
        elif token.startswith("KEY_"):
            _, tonic, mode = token.split("_")
            token_id = VOCAB.key_id(MusicKey((int(tonic) + semitones) % 12, mode))  # type: ignore[arg-type]
        moved.append(token_id)
    return moved
