"""Music generation: held-out likelihood, continuation quality, speed, rendering, training.

Models come from the data dir (``TYMPAN_DATA_DIR``, default ``./.tympan``); missing ones are
trained first with the configured budget (``TYMPAN_MUSIC_TRAIN_SECONDS``), so a first run
takes longer. Every figure is on the test split (by piece) of the folk corpus: per-token NLL
and perplexity of the LSTM and the Transformer beside the n-gram baseline, then 20 continued
held-out openings scored for pitch-class distance, notes in key and bars that add up.
First, the time a fresh install takes to answer its first generation (a new empty data dir,
the request repeated each second through the 409 until it succeeds), with and without the
quick first model (``TYMPAN_MUSIC_FIRST_PIECES``).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import psutil

from benchmarks._harness import machine_load, markdown_table, ratio, start_server, time_call
from tympan.audio.encode import encode_audio
from tympan.client import Client
from tympan.config import Settings
from tympan.errors import ModelTraining
from tympan.models.threads import torch_threads
from tympan.tasks.music import (
    RENDER_RATE,
    MusicModel,
    SamplingOptions,
    is_trained,
    load_music_model,
    render_midi,
    train_music_model,
    train_options,
    write_midi,
)
from tympan.tasks.music.corpus import Piece, load_corpus
from tympan.tasks.music.melody import Melody, in_key_fraction
from tympan.tasks.music.metrics import histogram_distance, rhythm_validity
from tympan.tasks.music.models import perplexity
from tympan.tasks.music.sampling import continue_sequence
from tympan.tasks.music.tokens import decode, encode
from tympan.tasks.music.training import split_sequences

STYLE = "folk"
MODELS = ("markov", "lstm", "transformer")
OPENINGS = 20
OPENING_BARS = 2
CONTINUATION_BARS = 8
TEMPO = 100.0
FRESH_RUNS = 3  # fresh installs timed with the quick first model (one without: it takes minutes)
FIRST_GENERATION_LIMIT = 900.0  # seconds a fresh install may take before the run is abandoned


def _models(settings: Settings) -> dict[str, MusicModel]:
    for arch in MODELS:
        model_id = f"{STYLE}-{arch}"
        if not is_trained(settings.models_dir, model_id):
            train_music_model(settings.models_dir, model_id, train_options(settings, model_id))
    return {arch: load_music_model(settings.models_dir, f"{STYLE}-{arch}") for arch in MODELS}


def _time_to_first_generation(**env: str) -> tuple[float, float]:
    """Wall and server CPU seconds from the first request to a fresh server (empty data dir)
    to its first piece; CPU seconds stay comparable when other work shares the cores."""
    with tempfile.TemporaryDirectory() as folder:
        server, url = start_server({"TYMPAN_DATA_DIR": folder, **env})
        try:
            process = psutil.Process(server.pid)
            cpu_before = sum(process.cpu_times()[:2])
            with Client(url) as client:
                started = time.perf_counter()
                while time.perf_counter() - started < FIRST_GENERATION_LIMIT:
                    try:
                        client.music_generate(bars=4, seed=1, response_format="json")
                        cpu = sum(process.cpu_times()[:2]) - cpu_before
                        return time.perf_counter() - started, cpu
                    except ModelTraining:
                        time.sleep(1.0)
        finally:
            server.kill()  # the full training goes on in the background: not measured here
            server.wait()
    raise TimeoutError(f"no generation within {FIRST_GENERATION_LIMIT} s")


def first_generation_table() -> str:
    """Time to the first generation on a fresh data dir, quick first model vs the full run."""
    quick = Settings(_env_file=None)  # type: ignore[call-arg]
    with_quick = [_time_to_first_generation() for _ in range(FRESH_RUNS)]
    without = _time_to_first_generation(TYMPAN_MUSIC_FIRST_PIECES="0")
    fastest = min(with_quick)
    rows = [
        ["full model only (music_first_pieces=0, as before)", 1, *without, 1.0],
        [
            f"quick first model ({quick.music_first_pieces} pieces, "
            f"{quick.music_first_seconds:.0f} s), then the full one",
            FRESH_RUNS,
            *fastest,
            ratio(without[0], fastest[0]),
        ],
    ]
    headers = ["fresh install", "runs", "min wall s", "server CPU s (that run)",
               "speed-up vs full only (wall)"]  # fmt: skip
    return f"{markdown_table(headers, rows)}\n\n({machine_load()} at the end.)"


def _split_at(melody: Melody, boundary: Fraction) -> tuple[Melody, Melody]:
    """The opening (notes ending by ``boundary``) and the rest of a piece."""
    head = tuple(note for note in melody.notes if note.end <= boundary)
    tail = tuple(note for note in melody.notes if note.onset >= boundary)
    return Melody(head, melody.key, melody.meter, melody.pickup), Melody(
        tail, melody.key, melody.meter
    )


def _continue(model: MusicModel, opening: Melody, seed: int, strict: bool) -> tuple[Melody, float]:
    prompt = encode(opening, end=False)
    options = SamplingOptions(seed=seed, strict_bars=strict)
    ids = continue_sequence(
        model.model, prompt, CONTINUATION_BARS, opening.meter, opening.key, options
    )
    added = decode(ids)
    continuation = Melody(
        tuple(note for note in added.notes if note.onset >= opening.length),
        opening.key,
        opening.meter,
    )
    return continuation, rhythm_validity(ids, opening.meter, len(prompt))


def _likelihood_table(models: dict[str, MusicModel], test: list[list[int]]) -> str:
    rows = []
    for arch, loaded in models.items():
        report = loaded.report
        with torch_threads(1):
            total, count = loaded.model.sequence_nll(test)
        rows.append(
            [
                arch,
                report.size,
                report.parameters,
                report.epochs,
                round(report.train_seconds, 1),
                total / count,
                perplexity(total, count),
                count,
            ]
        )
    headers = ["model", "size", "parameters", "epochs", "train s", "test NLL (nats/token)",
               "perplexity", "test tokens"]  # fmt: skip
    return markdown_table(headers, rows)


def _continuation_table(
    models: dict[str, MusicModel], held_out: list[Piece]
) -> tuple[str, list[Melody], dict[str, float]]:
    splits = [
        _split_at(p.melody, p.melody.pickup + OPENING_BARS * p.melody.meter.bar_beats)
        for p in held_out
    ]
    references = [tail for _, tail in splits]
    rows: list[list[object]] = [
        [
            "held-out pieces (reference)",
            "-",
            0.0,
            sum(in_key_fraction(t) for t in references) / len(references),
            1.0,
            "-",
        ]
    ]
    generated_for_render: list[Melody] = []
    speed: dict[str, float] = {}
    for arch, loaded in models.items():
        for strict in (False, True):
            pieces, validity = [], []
            started = time.perf_counter()
            with torch_threads(1):
                for seed, (opening, _) in enumerate(splits):
                    continuation, valid = _continue(loaded, opening, seed, strict)
                    pieces.append(continuation)
                    validity.append(valid)
            compute = time.perf_counter() - started
            music_seconds = sum(float(p.length) for p in pieces) * 60 / TEMPO
            if strict:
                speed[arch] = ratio(music_seconds, compute)
                generated_for_render.extend(pieces[:2])
            rows.append(
                [
                    arch,
                    "strict bars" if strict else "free",
                    histogram_distance(pieces, references),
                    sum(in_key_fraction(p) for p in pieces) / len(pieces),
                    sum(validity) / len(validity),
                    ratio(music_seconds, compute),
                ]
            )
    headers = ["model", "rhythm", "pitch-class distance (TV)", "notes in key",
               "bars that add up", "music s / compute s"]  # fmt: skip
    return markdown_table(headers, rows), generated_for_render, speed


def _render_table(melodies: list[Melody], soundfont: Path) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, melody in enumerate(melodies[:3]):
            midi = write_midi(melody, TEMPO, 73)
            path = Path(folder) / f"piece{index}.mid"
            path.write_bytes(midi)
            ours = time_call(lambda midi=midi: render_midi(midi, soundfont), repeats=3)
            seconds = len(ours.result) / RENDER_RATE
            command = ["fluidsynth", "-ni", "-q", "-F", str(Path(folder) / "cli.wav"),
                       "-r", str(RENDER_RATE), str(soundfont), str(path)]  # fmt: skip
            cli = time_call(
                lambda command=command: subprocess.run(command, check=True, capture_output=True),
                repeats=3,
            )
            mp3 = time_call(lambda s=ours.result: encode_audio(s, RENDER_RATE, "mp3"), repeats=3)
            rows.append(
                [
                    f"piece {index + 1}",
                    seconds,
                    ours.rtfx(seconds),
                    cli.rtfx(seconds),
                    ratio(cli.min, ours.min),
                    mp3.rtfx(seconds),
                ]
            )
    headers = ["piece", "audio s", "render RTFx (pyfluidsynth)", "RTFx fluidsynth CLI",
               "ours vs CLI speed", "mp3 encode RTFx"]  # fmt: skip
    return markdown_table(headers, rows)


def run() -> str:
    first_generation = first_generation_table()
    settings = Settings()
    models = _models(settings)
    pieces = load_corpus(STYLE, settings.music_corpus_limit, settings.models_dir / "music")
    test_sequences = split_sequences(pieces)["test"]
    held_out = [
        p
        for p in pieces
        if p.split == "test"
        and p.melody.length >= p.melody.pickup + 4 * p.melody.meter.bar_beats
        and p.melody.meter.bar_beats <= 4
    ][:OPENINGS]
    likelihood = _likelihood_table(models, test_sequences)
    continuation, generated, _ = _continuation_table(models, held_out)
    rendering = _render_table(generated, settings.music_soundfont)
    counts = models["lstm"].report.pieces
    parse_seconds = max(loaded.report.corpus_seconds for loaded in models.values())
    return (
        f"Folk corpus (music21 essenFolksong, {sum(counts.values())} pieces: "
        f"{counts['train']} train / {counts['valid']} valid / {counts['test']} test, by piece). "
        f"Parsing the corpus with music21 took {parse_seconds:.0f} s (once, then cached).\n\n"
        f"### Time to the first generation on a fresh data dir\n\n{first_generation}\n\n"
        f"### Held-out likelihood\n\n{likelihood}\n\n"
        f"### {len(held_out)} held-out openings ({OPENING_BARS} bars) continued by "
        f"{CONTINUATION_BARS} bars (temperature 1, no top-k/top-p, seed = index)\n\n"
        f"Pitch-class distance: total variation between the duration-weighted pitch-class "
        f"histograms of the continuations and of the real rest of the same pieces (0 = same). "
        f"'free' lets the model place bar lines and durations; 'strict bars' is the service "
        f"default.\n\n{continuation}\n\n"
        f"### Rendering (FluidSynth, FluidR3 GM, 44.1 kHz) and encoding\n\n{rendering}"
    )
