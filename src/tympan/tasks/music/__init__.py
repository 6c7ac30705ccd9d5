"""Music generation: continue a melody in a learned style, as MIDI and as audio.

Models are trained by Tympan itself from the corpus the ``music21`` package ships (``folk``:
Essen folk songs; ``bach``: Bach chorale soprano lines), over event tokens conditioned on key
and meter: the seed's LSTM, a small Transformer, and an n-gram baseline. Pieces come out as
MIDI (pretty_midi), as notes, or as audio rendered by FluidSynth with a General MIDI SoundFont.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from tympan.config import Settings
from tympan.models.spec import ModelSpec, path_size
from tympan.tasks.music.compose import (
    Composition,
    GeneratedPiece,
    MusicNote,
    MusicOptions,
    compose,
    describe,
)
from tympan.tasks.music.corpus import STYLES
from tympan.tasks.music.melody import Melody, Meter, MusicKey, Note
from tympan.tasks.music.midi_io import (
    PromptInfo,
    melody_from_notes,
    parse_abc,
    parse_midi,
    write_midi,
)
from tympan.tasks.music.render import RENDER_RATE, AudioFormat, render_midi
from tympan.tasks.music.sampling import SamplingOptions
from tympan.tasks.music.training import (
    MusicModel,
    TrainOptions,
    TrainReport,
    is_trained,
    load_music_model,
    model_dir,
    remote_stage_runner,
    train_music_model,
    train_stages,
)

__all__ = [
    "ARCHITECTURES",
    "RENDER_RATE",
    "STYLES",
    "AudioFormat",
    "Composition",
    "GeneratedPiece",
    "Melody",
    "Meter",
    "MusicKey",
    "MusicModel",
    "MusicNote",
    "MusicOptions",
    "Note",
    "PromptInfo",
    "SamplingOptions",
    "TrainOptions",
    "TrainReport",
    "compose",
    "describe",
    "is_trained",
    "load_music_model",
    "melody_from_notes",
    "model_specs",
    "music_model_ids",
    "parse_abc",
    "parse_midi",
    "remote_stage_runner",
    "render_midi",
    "train_music_model",
    "train_options",
    "train_stages",
    "training_stages",
    "write_midi",
]

ARCHITECTURES = {
    "lstm": "LSTM (the seed's architecture)",
    "transformer": "small decoder-only Transformer",
    "markov": "n-gram baseline (Witten-Bell)",
}


def music_model_ids() -> list[str]:
    """Every music model id, ``<style>-<architecture>``, the default (``folk-lstm``) first."""
    return [f"{style}-{arch}" for style in STYLES for arch in ARCHITECTURES]


def train_options(
    settings: Settings, model_id: str, max_seconds: float | None = None
) -> TrainOptions:
    """How ``model_id`` is trained under ``settings`` (budget, corpus size, network size)."""
    style, _, arch = model_id.partition("-")
    return TrainOptions(
        style=style,
        arch=arch,
        size=settings.music_model_size,
        max_seconds=max_seconds or settings.music_train_seconds,
        corpus_limit=settings.music_corpus_limit,
        threads=settings.cpu_threads or 1,
    )


def training_stages(
    settings: Settings, model_id: str, max_seconds: float | None = None
) -> list[TrainOptions]:
    """The training runs for ``model_id``: the full one, preceded on a fresh install by a quick
    first model (``music_first_pieces`` pieces, ``music_first_seconds``) that answers sooner."""
    full = train_options(settings, model_id, max_seconds)
    first_pieces = min(settings.music_first_pieces, full.corpus_limit)
    if is_trained(settings.models_dir, model_id) or first_pieces in (0, full.corpus_limit):
        return [full]
    first_seconds = min(settings.music_first_seconds, full.max_seconds)
    return [replace(full, corpus_limit=first_pieces, max_seconds=first_seconds), full]


def model_specs(settings: Settings) -> list[ModelSpec]:
    """One spec per style and architecture; ``load`` reads the weights trained in the data dir."""
    specs = []
    for model_id in music_model_ids():
        style, _, arch = model_id.partition("-")
        folder = model_dir(settings.models_dir, model_id)
        state = "trained" if is_trained(settings.models_dir, model_id) else "not trained yet"
        specs.append(
            ModelSpec(
                id=model_id,
                task="music",
                backend="python" if arch == "markov" else "pytorch",
                source=f"trained by `tympan music train` from {STYLES[style]} ({state})",
                load=partial(load_music_model, settings.models_dir, model_id),
                aliases=(style,) if arch == "lstm" else (),
                description=f"{ARCHITECTURES[arch]} over melody event tokens, {style} style",
                size_bytes=path_size(folder),
            )
        )
    return specs
