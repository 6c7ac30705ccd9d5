"""Speech enhancement: does it help Tympan's tasks on noisy speech, and at what cost?

The noisy set is built here, at run time, never stored: real speech (asr_ljspeech,
asr_small) mixed with the real noise recordings of
``../shared/eval/noise`` at fixed SNRs with a fixed seed. The noise files are split: the
``dev`` ones choose ``noise_reduction=auto``'s enhancer and SNR threshold, the ``test`` ones
are reported.

- WER of tiny.en through Tympan's batched Whisper decoding with no enhancement, each enhancer,
  and ``auto`` (the dev-chosen rule applied to the test mixtures), at 0/5/10/20 dB and clean.
- SI-SDR improvement, PESQ (wide band) and STOI of each enhancer against the clean speech.
- VAD, diarization and speaker verification: ``bench_enhancement_speakers``; the WER grid
  of gentler (ASR-friendly) enhancers: ``bench_enhancement_asr``.
- RTFx of each enhancer (min of 3, interleaved in one run) on a 60 s mixture, and of
  ``libdeepfilter`` called directly (``bench_enhancement_speed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import jiwer
import numpy as np
from pesq import pesq
from pystoi import stoi
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table
from benchmarks.bench_enhancement_speed import minute_of_noisy_speech, speed_table
from benchmarks.bench_speakers import read_rows
from tympan.audio import Audio, decode_audio
from tympan.config import SAMPLE_RATE, Settings
from tympan.models import ModelRegistry
from tympan.tasks.asr import DEFAULT_MODEL_ID, ChunkJob, DecodeOptions, WhisperHandle, decode_chunks
from tympan.tasks.enhancement import Enhancer, enhance_audio
from tympan.tasks.enhancement.snr import estimate_snr_db, mix_at_snr, si_sdr

SNRS = (0, 5, 10, 20)
CLEAN = "clean"
SEED = 20
LJSPEECH_CLIPS = int(os.environ.get("BENCH_ENHANCE_LJSPEECH", "12"))
SMALL_CLIPS = int(os.environ.get("BENCH_ENHANCE_SMALL", "10"))
_GRID = os.environ.get("BENCH_ENHANCE_THRESHOLDS", ",".join(map(str, range(-5, 31))))
THRESHOLDS = (-np.inf, *map(float, _GRID.split(",")), np.inf)
"""The SNR thresholds ``auto`` is chosen among (estimated dB; -inf never enhances, inf always);
``BENCH_ENHANCE_THRESHOLDS`` (comma-separated) evaluates given rules instead of the grid."""
DECODE_BATCH = 16
CLEAN_LIMIT_POINTS = 0.2
_normalize = EnglishTextNormalizer()


@dataclass(frozen=True, slots=True)
class Clip:
    """One clean utterance and its reference transcript."""

    name: str
    speech: np.ndarray
    text: str


def load_clips(counts: dict[str, int] | None = None) -> list[Clip]:
    """The first ``counts[folder]`` utterances of each ASR set under ``../shared/eval``
    (default: ``BENCH_ENHANCE_LJSPEECH`` asr_ljspeech and ``BENCH_ENHANCE_SMALL`` asr_small)."""
    counts = counts or {"asr_ljspeech": LJSPEECH_CLIPS, "asr_small": SMALL_CLIPS}
    return [
        Clip(row["audio"], decode_audio(EVAL_DIR / folder / row["audio"]).samples, row["text"])
        for folder, count in counts.items()
        for row in read_rows(EVAL_DIR / folder / "manifest.csv")[:count]
    ]


def load_noises(split: str) -> list[np.ndarray]:
    folder = EVAL_DIR / "noise"
    return [
        decode_audio(folder / row["audio"]).samples
        for row in read_rows(EVAL_DIR / "noise" / "manifest.csv")
        if row["split"] == split
    ]


def _errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, reference words) after Whisper's English normaliser."""
    ref = _normalize(reference) or "<empty>"
    out = jiwer.process_words(ref, _normalize(hypothesis) or "<empty>")
    return out.substitutions + out.deletions + out.insertions, len(ref.split())


@dataclass(slots=True)
class Condition:
    """Every mixture of one split and SNR: noisy audio, reference, and each method's output."""

    split: str
    snr: str
    clips: list[Clip]
    noisy: list[np.ndarray]
    reference: list[np.ndarray]
    outputs: dict[str, list[np.ndarray]]
    errors: dict[str, list[tuple[int, int]]]


def mixtures(clips: list[Clip], snrs: dict[str, tuple[int, ...]]) -> list[Condition]:
    """The clean clips, then each split's noises mixed in at each of its SNRs (fixed seed)."""
    clean = [clip.speech for clip in clips]
    conditions = [Condition("both", CLEAN, clips, clean, clean, {}, {})]
    for split, split_snrs in snrs.items():
        noises = load_noises(split)
        rng = np.random.default_rng(SEED)
        for snr in SNRS:  # every SNR draws, so a split's mixtures do not depend on the others
            pairs = [
                mix_at_snr(c.speech, noises[rng.integers(len(noises))], snr, rng) for c in clips
            ]
            if snr in split_snrs:
                noisy, reference = [p[0] for p in pairs], [p[1] for p in pairs]
                conditions.append(Condition(split, str(snr), clips, noisy, reference, {}, {}))
    return conditions


def enhance_conditions(conditions: list[Condition], enhancers: dict[str, Enhancer]) -> None:
    """Each condition's noisy audio as is (``none``) and through each enhancer."""
    for condition in conditions:
        condition.outputs["none"] = condition.noisy
        for name, enhancer in enhancers.items():
            condition.outputs[name] = [
                enhance_audio(enhancer, Audio.from_array(x)).samples for x in condition.noisy
            ]


def transcribe_conditions(handle: WhisperHandle, conditions: list[Condition]) -> None:
    """Each method's output in every condition through Tympan's batched Whisper decoding
    (beam 5, English; ``DECODE_BATCH`` clips per call), scored against the references."""
    jobs = [
        (condition, method, index, samples)
        for condition in conditions
        for method, outputs in condition.outputs.items()
        for index, samples in enumerate(outputs)
    ]
    for condition in conditions:
        for method in condition.outputs:
            condition.errors[method] = [(0, 0)] * len(condition.clips)
    options = DecodeOptions()
    for first in range(0, len(jobs), DECODE_BATCH):
        batch = jobs[first : first + DECODE_BATCH]
        decoded = decode_chunks(handle, [ChunkJob(job[3], 0.0, options) for job in batch])
        for (condition, method, index, _), segments in zip(batch, decoded, strict=True):
            if isinstance(segments, BaseException):
                raise segments
            text = " ".join(segment.text for segment in segments)
            condition.errors[method][index] = _errors(condition.clips[index].text, text)


def wer(pairs: list[tuple[int, int]]) -> float:
    return 100.0 * sum(e for e, _ in pairs) / max(1, sum(n for _, n in pairs))


def auto_pairs(condition: Condition, model: str, threshold: float) -> list[tuple[int, int]]:
    return [
        condition.errors[auto_method(noisy, model, threshold)][index]
        for index, noisy in enumerate(condition.noisy)
    ]


def choose_auto(conditions: list[Condition], models: list[str]) -> tuple[str, float]:
    """The enhancer and SNR threshold with the fewest word errors on the dev mixtures, among
    the rules that add at most ``CLEAN_LIMIT_POINTS`` of WER on clean speech (the issue's
    limit); ties go to the lower threshold (enhance less). ``-inf``: never enhance."""
    dev = [c for c in conditions if c.split in ("dev", "both")]
    clean = next(c for c in conditions if c.snr == CLEAN)
    allowed = wer(clean.errors["none"]) + CLEAN_LIMIT_POINTS
    best = None
    for model in models:
        for threshold in THRESHOLDS:
            if wer(auto_pairs(clean, model, threshold)) > allowed + 1e-9:
                continue
            errors = sum(e for c in dev for e, _ in auto_pairs(c, model, threshold))
            if best is None or (errors, threshold) < best[0]:
                best = ((errors, threshold), model, threshold)
    assert best is not None  # -inf (never enhance) always keeps the limit
    return best[1], best[2]


def wer_table(conditions: list[Condition], methods: list[str], auto: tuple[str, float]):
    rows = []
    for split in ("dev", "test"):
        for condition in conditions:
            if condition.split not in (split, "both"):
                continue
            row = [split, condition.snr]
            row += [wer(condition.errors[m]) for m in methods]
            row.append(wer(auto_pairs(condition, *auto)))
            rows.append(row)
    headers = ["noises", "SNR dB", *[f"WER {m}" for m in methods], "WER auto"]
    return markdown_table(headers, rows)


def _quality_table(conditions: list[Condition], methods: list[str]) -> str:
    rows = []
    for condition in conditions:
        if condition.split != "test":
            continue
        for method in methods:
            sdr, pq, st = [], [], []
            for ref, noisy, out in zip(
                condition.reference, condition.noisy, condition.outputs[method], strict=True
            ):
                sdr.append(
                    si_sdr(ref, out) - si_sdr(ref, noisy)
                    if method != "none"
                    else si_sdr(ref, noisy)
                )
                pq.append(pesq(SAMPLE_RATE, ref, out, "wb"))
                st.append(stoi(ref, out, SAMPLE_RATE, extended=False))
            label = "SI-SDR (dB)" if method == "none" else "SI-SDR gain (dB)"
            rows.append([condition.snr, method, label, np.mean(sdr), np.mean(pq), np.mean(st)])
    return markdown_table(["SNR dB", "method", "SI-SDR figure", "value", "PESQ-wb", "STOI"], rows)


def auto_method(noisy: np.ndarray, model: str, threshold: float) -> str:
    """What ``auto`` runs on ``noisy``: ``model`` under ``threshold`` dB estimated SNR."""
    return model if estimate_snr_db(Audio.from_array(noisy)) < threshold else "none"


def run() -> str:
    settings = Settings(_env_file=None)
    registry = ModelRegistry.from_settings(settings)
    enhancers = {spec.id: spec.load() for spec in registry.list("enhancement")}
    clips = load_clips()
    conditions = mixtures(clips, {"dev": SNRS, "test": SNRS})
    enhance_conditions(conditions, enhancers)
    transcribe_conditions(registry.get(DEFAULT_MODEL_ID).load(), conditions)
    methods = ["none", *enhancers]
    auto = choose_auto(conditions, list(enhancers))
    speech_seconds = sum(c.speech.shape[0] for c in clips) / SAMPLE_RATE
    return "\n\n".join(
        [
            f"{machine_load()}. {len(clips)} utterances ({speech_seconds:.0f} s: "
            f"{LJSPEECH_CLIPS} asr_ljspeech, {SMALL_CLIPS} asr_small), tiny.en (beam 5) "
            f"through Tympan's batched decoding. auto chosen on dev noises: enhancer "
            f"`{auto[0]}` under an estimated {auto[1]:g} dB SNR.",
            "### WER (%)\n\n" + wer_table(conditions, methods, auto),
            "### Quality against the clean speech (test noises)\n\n"
            + _quality_table(conditions, methods),
            "### Speed (2 shared cores; 60 s mixture at 5 dB)\n\n"
            + speed_table(
                enhancers, minute_of_noisy_speech(clips[0].speech, load_noises("test")[0], SEED)
            ),
        ]
    )
