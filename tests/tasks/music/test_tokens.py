"""Event tokens on real corpus pieces: round trip, bars, transposition."""

from __future__ import annotations

from tympan.tasks.music.corpus import Piece
from tympan.tasks.music.metrics import rhythm_validity
from tympan.tasks.music.tokens import (
    BAR,
    DURATION_STEPS,
    VOCAB,
    decode,
    encode,
    split_duration,
    transpose,
)


def test_round_trip_keeps_every_note(folk_pieces: list[Piece]) -> None:
    for piece in folk_pieces:
        back = decode(encode(piece.melody))
        assert back.pitched == piece.melody.pitched, piece.id
        assert (back.key, back.meter, back.pickup) == (
            piece.melody.key,
            piece.melody.meter,
            piece.melody.pickup,
        )


def test_corpus_bars_add_up(folk_pieces: list[Piece]) -> None:
    for piece in folk_pieces:
        ids = encode(piece.melody)
        assert rhythm_validity(ids, piece.melody.meter) == 1.0, piece.id
        bar_lines = ids.count(BAR)
        bars = (piece.melody.length - piece.melody.pickup) / piece.melody.meter.bar_beats
        assert abs(bar_lines - bars - (1 if piece.melody.pickup == 0 else 0)) <= 1, piece.id


def test_transpose_moves_pitches_and_key(folk_pieces: list[Piece]) -> None:
    melody = folk_pieces[0].melody
    moved = transpose(encode(melody), 3)
    assert moved is not None
    assert [n.pitch for n in decode(moved).pitched] == [n.pitch + 3 for n in melody.pitched]
    assert decode(moved).key == melody.key.transposed(3)
    assert transpose(encode(melody), 60) is None  # out of the pitch range


def test_split_duration_covers_any_length() -> None:
    for steps in range(1, 200):
        parts = split_duration(steps)
        assert sum(parts) == steps and set(parts) <= set(DURATION_STEPS)


def test_vocabulary_is_small_and_unique() -> None:
    assert len(set(VOCAB.tokens)) == len(VOCAB) < 200
