"""A service with tiny music models trained on real corpus pieces (seconds, not minutes)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.music import Melody, MusicModel, load_music_model, write_midi
from tympan.tasks.music.corpus import Piece, load_corpus

TINY = {"music_model_size": "tiny", "music_corpus_limit": 30, "music_train_seconds": 6.0}
TRAINED = ("folk-lstm", "folk-transformer", "folk-markov")


@pytest.fixture(scope="session")
def music_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("music"), **TINY)


@pytest.fixture(scope="session")
def music_api(music_settings: Settings) -> Iterator[Client]:
    """An in-process service whose folk models were trained through the API."""
    with Client.in_process(music_settings) as client:
        for model_id in TRAINED:
            job = client.music_train(model_id)
            assert job["status"] == "succeeded", job
        yield client


@pytest.fixture(scope="session")
def folk_pieces(music_settings: Settings, music_api: Client) -> list[Piece]:
    """The parsed folk pieces the models were trained on (read from the training cache)."""
    return load_corpus("folk", 30, music_settings.models_dir / "music")


@pytest.fixture(scope="session")
def folk_lstm(music_settings: Settings, music_api: Client) -> MusicModel:
    return load_music_model(music_settings.models_dir, "folk-lstm")


def opening(piece: Piece, beats: int = 6) -> Melody:
    """The first notes of a piece (those starting before ``beats``), as a prompt."""
    melody = piece.melody
    notes = tuple(note for note in melody.notes if note.onset < beats and note.end <= beats)
    return Melody(notes, melody.key, melody.meter, melody.pickup)


@pytest.fixture(scope="session")
def held_out(folk_pieces: list[Piece]) -> Piece:
    """A test-split folk piece whose opening is all notes (no rests)."""
    return next(
        p for p in folk_pieces if p.split != "train" and all(n.pitch for n in opening(p).notes)
    )


@pytest.fixture(scope="session")
def motif_midi(held_out: Piece, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The held-out piece's opening as a MIDI file."""
    path = tmp_path_factory.mktemp("motif") / "motif.mid"
    path.write_bytes(write_midi(opening(held_out), 120.0))
    return path


def beats(value: float) -> Fraction:
    return Fraction(value).limit_denominator(48)
