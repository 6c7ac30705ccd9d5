"""Sampling with the trained tiny models: seeds, constraints, bar counts, bad options."""

from __future__ import annotations

import pytest

from tests.tasks.music.conftest import opening
from tympan.errors import InvalidParameter, PayloadTooLarge
from tympan.tasks.music import MusicModel, MusicOptions, PromptInfo, SamplingOptions, compose
from tympan.tasks.music.corpus import Piece
from tympan.tasks.music.metrics import rhythm_validity
from tympan.tasks.music.sampling import continue_sequence
from tympan.tasks.music.tokens import BAR, encode


def _prompt(piece: Piece) -> PromptInfo:
    melody = opening(piece)
    return PromptInfo(melody.notes, melody.key, melody.meter, melody.pickup)


def _compose(model: MusicModel, prompt: PromptInfo | None, **sampling: object):
    options = MusicOptions(bars=4, sampling=SamplingOptions(**sampling))  # type: ignore[arg-type]
    return compose(model.model, prompt, options, max_bars=64, max_seconds=600)


def test_same_seed_same_piece_other_seed_other_piece(folk_lstm: MusicModel, held_out: Piece):
    prompt = _prompt(held_out)
    first = _compose(folk_lstm, prompt, seed=7).melody
    assert _compose(folk_lstm, prompt, seed=7).melody == first
    assert _compose(folk_lstm, prompt, seed=8).melody != first


def test_top_k_one_is_greedy_whatever_the_seed(folk_lstm: MusicModel, held_out: Piece):
    prompt = _prompt(held_out)
    greedy = _compose(folk_lstm, prompt, seed=1, top_k=1).melody
    assert _compose(folk_lstm, prompt, seed=2, top_k=1).melody == greedy


def test_prompt_is_kept_as_the_opening(folk_lstm: MusicModel, held_out: Piece):
    prompt = _prompt(held_out)
    piece = _compose(folk_lstm, prompt, seed=3, top_p=0.9)
    kept = piece.melody.pitched[: len(prompt.notes)]
    assert [(n.onset, n.pitch) for n in kept] == [(n.onset, n.pitch) for n in prompt.notes]
    assert len(piece.melody.pitched) > len(prompt.notes)


def test_stay_in_key_and_strict_bars(folk_lstm: MusicModel, held_out: Piece):
    prompt = _prompt(held_out)
    melody = opening(held_out)
    for seed in range(3):
        piece = _compose(folk_lstm, prompt, seed=seed, temperature=1.5, stay_in_key=True).melody
        added = [n for n in piece.pitched if n.onset >= melody.length]
        assert added and all(n.pitch % 12 in melody.key.scale for n in added)
        ids = continue_sequence(
            folk_lstm.model,
            encode(melody, end=False),
            4,
            melody.meter,
            melody.key,
            SamplingOptions(seed=seed, temperature=1.5),
        )
        start = len(encode(melody, end=False))
        assert rhythm_validity(ids, melody.meter, start) == 1.0
        bars_added = ids[start:].count(BAR)
        assert bars_added == 4 + (0 if encode(melody, end=False)[-1] == BAR else 1)


def test_from_scratch_fills_the_bars(folk_lstm: MusicModel):
    piece = _compose(folk_lstm, None, seed=11)
    melody = piece.melody
    assert melody.pickup == 0 and melody.pitched
    assert melody.length == 4 * melody.meter.bar_beats


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": 9}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_sampling_options(folk_lstm: MusicModel, options: dict, param: str):
    with pytest.raises(InvalidParameter) as error:
        _compose(folk_lstm, None, **options)
    assert error.value.param == param


def test_length_limits(folk_lstm: MusicModel):
    with pytest.raises(PayloadTooLarge):
        compose(folk_lstm.model, None, MusicOptions(bars=65), max_bars=64, max_seconds=600)
    with pytest.raises(PayloadTooLarge):
        slow = MusicOptions(bars=60, tempo=20)
        compose(folk_lstm.model, None, slow, max_bars=64, max_seconds=600)
