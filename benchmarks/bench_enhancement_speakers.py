"""Enhancement before the speaker tasks: VAD F1, DER and verification EER on noisy speech.

The 4 diarization recordings and the speaker-verification trials (both sides) are mixed with
the real noises at fixed SNRs (``bench_enhancement``'s mixing and seed, nothing stored). The
``dev`` noises choose ``noise_reduction=auto``'s enhancer and SNR threshold for the speaker
family (speaker embed / verify / identify / enroll, diarization, VAD): the pair with the lowest
sum of DER + (100 - VAD F1) + EER over the dev conditions; the ``test`` noises are reported.
``python -m benchmarks enhancement_speakers``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.detection import DetectionPrecisionRecallFMeasure
from pyannote.metrics.diarization import DiarizationErrorRate

from benchmarks._harness import machine_load, markdown_table
from benchmarks.bench_enhancement import (
    CLEAN,
    SEED,
    SNRS,
    THRESHOLDS,
    auto_method,
    load_noises,
)
from benchmarks.bench_speakers import DIARIZATION, SPEAKERS, read_rows, read_rttm
from tympan.audio import Audio, decode_audio
from tympan.config import Settings
from tympan.models import ModelRegistry
from tympan.tasks.diarization import DiarizationOptions, diarize
from tympan.tasks.enhancement import Enhancer, enhance_audio
from tympan.tasks.enhancement.snr import mix_at_snr
from tympan.tasks.speakers import GE2E_MODEL_ID, embed_audio
from tympan.tasks.speakers.calibration import error_rates
from tympan.tasks.vad import SILERO_MODEL_ID, VadOptions, detect_speech

VAD_RECORDINGS = int(os.environ.get("BENCH_ENHANCE_VAD", "4"))
TRIALS = int(os.environ.get("BENCH_ENHANCE_TRIALS", "300"))
VERIFY_SNRS = (5,)


@dataclass(frozen=True, slots=True)
class Versions:
    """One split and SNR: the noisy items and each method's result on every item."""

    noisy: list[np.ndarray]
    results: dict[str, list]


def noisy_versions(
    clean: list[np.ndarray],
    split: str,
    snrs: tuple[int | str, ...],
    enhancers: dict[str, Enhancer],
    measure: Callable[[np.ndarray], object],
) -> dict[str, Versions]:
    """For each of ``snrs`` (``clean``: no noise): ``split``'s mixtures and ``measure`` of
    each method's version of them (``none``: the mixture itself)."""
    noises = load_noises(split)
    versions = {}
    for snr in snrs:
        rng = np.random.default_rng(SEED)
        noisy = [
            x if snr == CLEAN else mix_at_snr(x, noises[rng.integers(len(noises))], snr, rng)[0]
            for x in clean
        ]
        results = {"none": [measure(x) for x in noisy]}
        for name, enhancer in enhancers.items():
            results[name] = [
                measure(enhance_audio(enhancer, Audio.from_array(x)).samples) for x in noisy
            ]
        versions[str(snr)] = Versions(noisy, results)
    return versions


def picked(versions: Versions, method: str | tuple[str, float]) -> list:
    """Each item's result under ``method``, or under ``auto`` given as (model, threshold)."""
    if isinstance(method, str):
        return versions.results[method]
    return [
        versions.results[auto_method(noisy, *method)][index]
        for index, noisy in enumerate(versions.noisy)
    ]


class Diarization:
    """Silero VAD and GE2E diarization of the recordings; F1 and DER of any pick of them."""

    def __init__(self, silero, encoder) -> None:  # type: ignore[no-untyped-def]
        rows = read_rows(DIARIZATION / "manifest.csv")[:VAD_RECORDINGS]
        self.clean = [decode_audio(DIARIZATION / row["audio"]).samples for row in rows]
        self.references = [read_rttm(DIARIZATION / row["rttm"]) for row in rows]
        self._silero, self._encoder = silero, encoder

    def measure(self, samples: np.ndarray) -> tuple[Annotation, Annotation]:
        """(speech regions, speaker turns) of one recording."""
        audio = Audio.from_array(samples)
        speech = Annotation()
        for s in detect_speech(audio, "silero", VadOptions(), self._silero).segments:
            speech[Segment(s.start, s.end)] = "speech"
        options = DiarizationOptions(identify=False)
        turns = Annotation()
        for turn in diarize(audio, self._silero, self._encoder, GE2E_MODEL_ID, options).segments:
            turns[Segment(turn.start, turn.end)] = turn.speaker
        return speech, turns

    def score(self, results: list[tuple[Annotation, Annotation]]) -> tuple[float, float]:
        """(VAD F1 %, DER % with a 0.25 s collar, overlap scored) over the recordings."""
        detection = DetectionPrecisionRecallFMeasure()
        der = DiarizationErrorRate(collar=0.25, skip_overlap=False)
        for (speech, turns), reference, clean in zip(
            results, self.references, self.clean, strict=True
        ):
            uem = Timeline([Segment(0, clean.shape[0] / 16_000)])
            detection(reference, speech, uem=uem)
            der(reference, turns, uem=uem)
        return 100 * detection.compute_metrics()[2], 100 * abs(der)


def balanced_trials(trials: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    """The first ``count // 2`` same-speaker and the first ``count // 2`` different-speaker
    trials (``trials.csv`` lists all same-speaker ones first, and an EER needs both)."""
    same = [t for t in trials if t["target"] == "1"][: count // 2]
    different = [t for t in trials if t["target"] != "1"][: count // 2]
    return same + different


class Verification:
    """GE2E embeddings of the trial files; EER and minDCF of any pick of them."""

    def __init__(self, encoder) -> None:  # type: ignore[no-untyped-def]
        self.trials = balanced_trials(read_rows(SPEAKERS / "trials.csv"), TRIALS)
        self.files = sorted({t[side] for t in self.trials for side in ("enroll", "test")})
        self.clean = [decode_audio(SPEAKERS / name).samples for name in self.files]
        self._encoder = encoder

    def measure(self, samples: np.ndarray) -> np.ndarray:
        """The voiceprint of one file."""
        audio = Audio.from_array(samples)
        return np.asarray(embed_audio(self._encoder, GE2E_MODEL_ID, audio).embedding)

    def score(self, vectors: list[np.ndarray]) -> tuple[float, float]:
        """(EER %, minDCF) of the trials."""
        by_file = dict(zip(self.files, vectors, strict=True))
        scores = np.array([by_file[t["enroll"]] @ by_file[t["test"]] for t in self.trials])
        rates = error_rates(scores, np.array([t["target"] == "1" for t in self.trials]))
        return 100 * rates.eer, rates.min_dcf


def choose_auto(
    diarization: dict[str, Versions],
    verification: dict[str, Versions],
    diarizer: Diarization,
    verifier: Verification,
    models: list[str],
) -> tuple[tuple[str, float], float]:
    """The (enhancer, threshold) with the lowest dev cost, DER + (100 - F1) + EER summed
    over the conditions; ties go to the lower threshold (enhance less). Returns it and its
    cost."""
    best = None
    for model in models:
        for threshold in THRESHOLDS:
            auto = (model, threshold)
            cost = 0.0
            for versions in diarization.values():
                f1, der = diarizer.score(picked(versions, auto))
                cost += der + 100 - f1
            for versions in verification.values():
                cost += verifier.score(picked(versions, auto))[0]
            if best is None or (cost, threshold) < (best[1], best[0][1]):
                best = (auto, cost)
    assert best is not None
    return best


def _tables(
    split: str,
    diarization: dict[str, Versions],
    verification: dict[str, Versions],
    diarizer: Diarization,
    verifier: Verification,
    auto: tuple[str, float],
) -> tuple[list, list]:
    diarization_rows, verification_rows = [], []
    for snr, versions in diarization.items():
        for method in [*versions.results, auto]:
            label = method if isinstance(method, str) else "auto"
            diarization_rows.append([split, snr, label, *diarizer.score(picked(versions, method))])
    for snr, versions in verification.items():
        for method in [*versions.results, auto]:
            label = method if isinstance(method, str) else "auto"
            verification_rows.append([split, snr, label, *verifier.score(picked(versions, method))])
    return diarization_rows, verification_rows


def run() -> str:
    settings = Settings(_env_file=None)
    registry = ModelRegistry.from_settings(settings)
    enhancers = {spec.id: spec.load() for spec in registry.list("enhancement")}
    diarizer = Diarization(registry.get(SILERO_MODEL_ID).load(), registry.get(GE2E_MODEL_ID).load())
    verifier = Verification(registry.get(GE2E_MODEL_ID).load())
    measured = {  # clean speech is the same for both splits: measured (and listed) once
        split: (
            noisy_versions(diarizer.clean, split, (*SNRS, *extra), enhancers, diarizer.measure),
            noisy_versions(
                verifier.clean, split, (*VERIFY_SNRS, *extra), enhancers, verifier.measure
            ),
        )
        for split, extra in (("dev", (CLEAN,)), ("test", ()))
    }
    auto, cost = choose_auto(*measured["dev"], diarizer, verifier, list(enhancers))
    diarization_rows, verification_rows = [], []
    for split, (diarization, verification) in measured.items():
        rows = _tables(split, diarization, verification, diarizer, verifier, auto)
        diarization_rows += rows[0]
        verification_rows += rows[1]
    return "\n\n".join(
        [
            f"{machine_load()}. auto chosen on dev noises: `{auto[0]}` under an estimated "
            f"{auto[1]:g} dB SNR (dev cost {cost:.1f}).",
            f"### Diarization recordings ({VAD_RECORDINGS}): Silero VAD F1, DER (GE2E)\n\n"
            + markdown_table(
                ["noises", "SNR dB", "method", "VAD F1 (%)", "DER (%) collar 0.25"],
                diarization_rows,
            ),
            f"### Speaker verification ({TRIALS} trials, GE2E), both sides noisy\n\n"
            + markdown_table(
                ["noises", "SNR dB", "method", "EER (%)", "minDCF"], verification_rows
            ),
        ]
    )
