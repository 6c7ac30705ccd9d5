"""Does enhancement before Whisper lower its WER on noisy speech, and should ``auto`` do it?

The decision set: every asr_ljspeech and asr_small utterance plus the first
``BENCH_ENHANCE_ACCENTS`` asr_accents ones, so that each condition's WER rests on more than
1,000 reference words. Mixed with the real noises at 0/5/10 dB (``bench_enhancement``'s
mixing and seed) and clean, consecutive utterances joined into windows of up to 28 s (one
Whisper window each, so the decoding work follows the speech, not the clip count); each
enhancer's output is kept in memory for the run and all of
them are decoded in batches through Tympan's Whisper decoding (tiny.en, or
``BENCH_ENHANCE_ASR_MODEL``, e.g. ``whisper-base``; beam 5, English). The ``dev``
noises (and clean) choose ``auto``'s ASR enhancer and SNR threshold (``-inf``: never
enhance); the ``test`` noises are reported, with ``auto``'s relative WER cut at 5 dB and its
cost on clean speech against the issue's goals (>= 15 %, <= +0.2 points).
``python -m benchmarks enhancement_asr``; ``BENCH_ENHANCE_ASR_SNRS`` (``0,5,10``) and
``BENCH_ENHANCE_ASR_ENHANCERS`` (comma-separated ids; all by default) narrow it.
The shipped ``auto`` rule follows tiny.en's run (the default model); other models' rows show
whether it holds for them.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._harness import machine_load
from benchmarks.bench_enhancement import (
    CLEAN,
    CLEAN_LIMIT_POINTS,
    Clip,
    Condition,
    auto_pairs,
    choose_auto,
    enhance_conditions,
    load_clips,
    mixtures,
    transcribe_conditions,
    wer,
    wer_table,
)
from tympan.config import SAMPLE_RATE, Settings
from tympan.models import ModelRegistry
from tympan.tasks.asr import DEFAULT_MODEL_ID

SPLIT_SNRS = tuple(map(int, os.environ.get("BENCH_ENHANCE_ASR_SNRS", "0,5,10").split(",")))
ENHANCERS = os.environ.get("BENCH_ENHANCE_ASR_ENHANCERS", "")  # comma-separated; empty: all
MODEL = os.environ.get("BENCH_ENHANCE_ASR_MODEL", DEFAULT_MODEL_ID)
ACCENT_CLIPS = int(os.environ.get("BENCH_ENHANCE_ACCENTS", "7"))
CLIPS = {"asr_ljspeech": 1000, "asr_small": 1000, "asr_accents": ACCENT_CLIPS}
GOAL_CUT_PERCENT = 15.0
WINDOW_SECONDS = 28.0  # Whisper decodes 30 s windows: a short clip alone wastes most of one
GAP = np.zeros(SAMPLE_RATE // 2, np.float32)


def windows(clips: list[Clip]) -> list[Clip]:
    """Consecutive clips joined (0.5 s apart) into pieces of at most ``WINDOW_SECONDS``, each
    one Whisper window: the same speech and words in about a third of the decoding work."""
    joined: list[list[Clip]] = []
    for clip in clips:
        pieces = [*(joined[-1] if joined else []), clip]
        seconds = sum(p.speech.shape[0] + GAP.shape[0] for p in pieces) / SAMPLE_RATE
        if joined and seconds <= WINDOW_SECONDS:
            joined[-1].append(clip)
        else:
            joined.append([clip])
    return [
        Clip(
            "+".join(p.name for p in group),
            np.concatenate([x for p in group for x in (p.speech, GAP)][:-1]),
            " ".join(p.text for p in group),
        )
        for group in joined
    ]


def _condition(conditions: list[Condition], split: str, snr: str) -> Condition:
    return next(c for c in conditions if c.split == split and c.snr == snr)


def goals(conditions: list[Condition], auto: tuple[str, float]) -> str:
    """``auto`` against the issue's goals: relative WER cut at test 5 dB, clean-speech cost."""
    noisy = _condition(conditions, "test", "5")
    clean = _condition(conditions, "both", CLEAN)
    none_5, auto_5 = wer(noisy.errors["none"]), wer(auto_pairs(noisy, *auto))
    none_clean, auto_clean = wer(clean.errors["none"]), wer(auto_pairs(clean, *auto))
    cut = 100.0 * (none_5 - auto_5) / max(none_5, 1e-9)
    added = auto_clean - none_clean
    return (
        f"auto at test 5 dB: WER {none_5:.2f} -> {auto_5:.2f} % (relative cut {cut:.1f} %, "
        f"goal >= {GOAL_CUT_PERCENT:g} %: {'met' if cut >= GOAL_CUT_PERCENT else 'NOT met'}); "
        f"clean: {none_clean:.2f} -> {auto_clean:.2f} % ({added:+.2f} points, limit "
        f"+{CLEAN_LIMIT_POINTS:g}: {'kept' if added <= CLEAN_LIMIT_POINTS else 'NOT kept'})."
    )


def run() -> str:
    settings = Settings(_env_file=None)
    registry = ModelRegistry.from_settings(settings)
    enhancers = {
        spec.id: spec.load()
        for spec in registry.list("enhancement")
        if not ENHANCERS or spec.id in ENHANCERS.split(",")
    }
    utterances = load_clips(CLIPS)
    clips = windows(utterances)
    conditions = mixtures(clips, {"dev": SPLIT_SNRS, "test": SPLIT_SNRS})
    enhance_conditions(conditions, enhancers)
    handle = registry.get(MODEL).load()
    try:
        transcribe_conditions(handle, conditions)
    finally:
        handle.close()
    auto = choose_auto(conditions, list(enhancers))
    speech_seconds = sum(c.speech.shape[0] for c in utterances) / SAMPLE_RATE
    words = sum(n for _, n in conditions[0].errors["none"])
    return "\n\n".join(
        [
            f"{machine_load()}. {len(utterances)} utterances ({speech_seconds:.0f} s, {words} "
            f"reference words per condition: every asr_ljspeech and asr_small one, the first "
            f"{ACCENT_CLIPS} asr_accents) joined into {len(clips)} windows of up to "
            f"{WINDOW_SECONDS:g} s, {MODEL} (beam 5) through Tympan's batched decoding. "
            f"auto chosen on dev noises ({'/'.join(map(str, SPLIT_SNRS))} dB and clean): "
            f"`{auto[0]}` under "
            f"an estimated {auto[1]:g} dB SNR (-inf: never enhance).",
            goals(conditions, auto),
            "### WER (%)\n\n" + wer_table(conditions, ["none", *enhancers], auto),
        ]
    )
