"""Sample a continuation token by token: temperature, top-k, nucleus, and musical constraints.

The token grammar is always enforced (an event is followed by its duration; the prompt's last
note is not lengthened). Two constraints are optional: ``stay_in_key`` keeps pitches in the
key's scale, and ``strict_bars`` only offers durations that fit the current bar and places
every bar line itself, so bars always add up. Generation stops after the requested number of
bars. A seeded ``numpy`` generator makes the same request give the same piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tympan.errors import InvalidParameter
from tympan.tasks.music.melody import GRID, Meter, MusicKey
from tympan.tasks.music.models import SequenceModel
from tympan.tasks.music.tokens import BAR, BOS, DURATION_STEPS, HOLD, REST, VOCAB

__all__ = ["SamplingOptions", "bar_position", "continue_sequence", "sample_header"]

_PITCH_IDS = np.array(VOCAB.ids("PITCH_"))
_PITCHES = np.array([int(VOCAB.tokens[i][6:]) for i in _PITCH_IDS])
_DURATION_IDS = np.array([VOCAB.duration_id(steps) for steps in DURATION_STEPS])
_DURATION_STEPS = np.array(DURATION_STEPS)
_KEY_IDS = VOCAB.ids("KEY_")
_METER_IDS = [i for i in VOCAB.ids("METER_") if VOCAB.tokens[i] != "METER_other"]


@dataclass(frozen=True, slots=True)
class SamplingOptions:
    """How to draw each token: randomness, truncation, constraints, and the seed."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    stay_in_key: bool = False
    strict_bars: bool = True

    def validate(self) -> None:
        """``InvalidParameter`` (400) for values out of range."""
        if not 0 < self.temperature <= 5:
            raise InvalidParameter("temperature must be in (0, 5].", param="temperature")
        if self.top_k < 0:
            raise InvalidParameter("top_k must be >= 0 (0 = no limit).", param="top_k")
        if not 0 < self.top_p <= 1:
            raise InvalidParameter("top_p must be in (0, 1].", param="top_p")
        if not 0 <= self.seed < 2**63:
            raise InvalidParameter("seed must be a non-negative 63-bit integer.", param="seed")


def _draw(log_probs: np.ndarray, allowed: np.ndarray, options: SamplingOptions, rng) -> int:
    """One token among ``allowed`` ids after temperature, top-k and nucleus truncation."""
    logits = log_probs[allowed] / options.temperature
    order = np.argsort(-logits, kind="stable")
    if options.top_k:
        order = order[: options.top_k]
    probs = np.exp(logits[order] - logits[order].max())
    probs /= probs.sum()
    if options.top_p < 1:
        keep = int(np.searchsorted(np.cumsum(probs), options.top_p)) + 1
        order, probs = order[:keep], probs[:keep] / probs[:keep].sum()
    return int(allowed[order[rng.choice(len(order), p=probs)]])


def sample_header(
    model: SequenceModel,
    key: MusicKey | None,
    meter: Meter | None,
    options: SamplingOptions,
) -> list[int]:
    """``BOS KEY METER`` for a piece from scratch: given values, else drawn from the model."""
    rng = np.random.default_rng([options.seed, 1])
    ids = [BOS]
    given = (
        VOCAB.key_id(key) if key else None,
        VOCAB.meter_id(meter) if meter else None,
    )
    for token, choices in zip(given, (_KEY_IDS, _METER_IDS), strict=True):
        if token is None:
            token = _draw(model.next_log_probs(ids), np.array(choices), options, rng)
        ids.append(token)
    return ids


def bar_position(ids: list[int]) -> int:
    """Grid steps from the last bar line (or the start) to the end of ``ids``."""
    position = 0
    for token_id in ids:
        if token_id == BAR:
            position = 0
        elif VOCAB.tokens[token_id].startswith("DUR_"):
            position += int(VOCAB.tokens[token_id][4:])
    return position


def continue_sequence(
    model: SequenceModel,
    prompt: list[int],
    bars: int,
    meter: Meter,
    key: MusicKey,
    options: SamplingOptions,
) -> list[int]:
    """``prompt`` (``BOS KEY METER`` and events, no ``EOS``) extended by ``bars`` more bars.

    A prompt that stops inside a bar first has that bar completed; the result ends with
    ``BAR EOS``.
    """
    rng = np.random.default_rng([options.seed, 2])
    bar = int(meter.bar_beats * GRID)
    position = bar_position(prompt)
    target = bars + (1 if prompt[-1] != BAR else 0)
    pitch_ok = np.ones(len(_PITCH_IDS), bool)
    if options.stay_in_key:
        pitch_ok = np.isin(_PITCHES % 12, sorted(key.scale))
    events = np.concatenate([_PITCH_IDS[pitch_ok], [REST]])
    stream = model.stream(prompt)
    ids = list(prompt)
    bars_done, can_hold = 0, False
    max_tokens = len(prompt) + 4 * bar * target + 8  # bounds an unconstrained model's rambling
    while bars_done < target and len(ids) < max_tokens:
        if options.strict_bars and position >= bar:
            token = BAR
        else:
            allowed = np.concatenate([events, [HOLD]]) if can_hold else events
            if not options.strict_bars and position > 0:
                allowed = np.concatenate([allowed, [BAR]])
            token = _draw(stream.log_probs(), allowed, options, rng)
        if token == BAR:
            bars_done += 1
            position = 0
        else:
            stream.push(token)
            ids.append(token)
            room = bar - position if options.strict_bars else 10**9
            durations = _DURATION_IDS[room >= _DURATION_STEPS]
            token = _draw(stream.log_probs(), durations, options, rng)
            position += int(VOCAB.tokens[token][4:])
            can_hold = True
        stream.push(token)
        ids.append(token)
    return [*ids, VOCAB.id("EOS")]
