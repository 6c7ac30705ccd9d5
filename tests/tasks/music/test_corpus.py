"""The music21 corpus: both styles parse, the split is stable, the cache is faithful."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tympan.tasks.music.corpus import Piece, load_corpus, piece_split


def test_split_is_stable_and_about_80_10_10() -> None:
    ids = [f"essen/x/{i}" for i in range(2000)]
    counts = Counter(piece_split(piece_id) for piece_id in ids)
    assert [piece_split(piece_id) for piece_id in ids] == [piece_split(i) for i in ids]
    assert 0.75 < counts["train"] / 2000 < 0.85
    assert 0.07 < counts["test"] / 2000 < 0.13


def test_folk_pieces_are_real_melodies(folk_pieces: list[Piece]) -> None:
    assert len(folk_pieces) == 30
    assert len({piece.id for piece in folk_pieces}) == 30
    assert {piece.split for piece in folk_pieces} >= {"train", "test"}
    for piece in folk_pieces:
        pitches = [note.pitch for note in piece.melody.pitched]
        assert len(pitches) >= 8 and 40 <= min(pitches) <= max(pitches) <= 96


def test_cache_gives_the_parsed_pieces(tmp_path: Path) -> None:
    parsed = load_corpus("folk", 4, tmp_path)
    assert list(tmp_path.glob("corpus-folk-4-*.json"))
    assert load_corpus("folk", 4, tmp_path) == parsed


def test_bach_soprano_lines() -> None:
    pieces = load_corpus("bach", 3)
    assert len(pieces) == 3
    for piece in pieces:
        assert piece.id.startswith("bach/bwv")
        assert len(piece.melody.pitched) >= 20
        assert min(note.pitch for note in piece.melody.pitched) >= 55  # a soprano's range
