"""Enhancement before the speaker tasks: VAD F1, DER and verification EER on noisy speech.

The 4 diarization recordings and the speaker-verification trials (both sides) are mixed with
the real noises at fixed SNRs (``bench_enhancement``'s mixing and seed, nothing stored). The
``dev`` noises choose ``noise_reduction=auto``'s enhancer and SNR threshold for each family
on its own measure, summed over the dev conditions: VAD (100 - F1), diarization (DER) and the
speaker tasks (embed / verify / identify / enroll: EER); the ``test`` noises are reported.
``python -m benchmarks enhancement_speakers``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.detection import DetectionPrecisionRecallFMeasure
from pyannote.metrics.diarization import DiarizationErrorRate

from benchmarks._harness import machine_load, markdown_table
from benchmarks.bench_enhancement import (
    CLEAN,
    SEED,
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
FILES = int(os.environ.get("BENCH_ENHANCE_SPEAKER_FILES", "4"))
DIARIZATION_SNRS = (0, 5, 10)
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


def trials_among_first_files(trials: list[dict[str, str]], per_speaker: int) -> list[dict]:
    """The trials whose two files are both among the first ``per_speaker`` files of their
    speaker: same- and different-speaker trials alike (``trials.csv`` lists every
    same-speaker one first, so its head alone has no different-speaker trial and no EER),
    on a few files, since each file is enhanced once per method and condition."""
    by_speaker: dict[str, list[str]] = {}
    for name in sorted({t[side] for t in trials for side in ("enroll", "test")}):
        by_speaker.setdefault(Path(name).name.split("-")[0], []).append(name)
    kept = {name for names in by_speaker.values() for name in names[:per_speaker]}
    return [t for t in trials if t["enroll"] in kept and t["test"] in kept]


class Verification:
    """GE2E embeddings of the trial files; EER and minDCF of any pick of them."""

    def __init__(self, encoder) -> None:  # type: ignore[no-untyped-def]
        self.trials = trials_among_first_files(read_rows(SPEAKERS / "trials.csv"), FILES)
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


Rule = tuple[str, float]
"""``auto`` as (enhancer, SNR threshold): the enhancer under that estimated SNR."""


def choose_auto(cost: Callable[[Rule], float], models: list[str]) -> tuple[Rule, float]:
    """The (enhancer, threshold) with the lowest dev ``cost``; ties go to the lower threshold
    (enhance less; ``-inf``: never). Returns it and its cost."""
    best = None
    for model in models:
        for threshold in THRESHOLDS:
            value = cost((model, threshold))
            if best is None or (value, threshold) < (best[1], best[0][1]):
                best = ((model, threshold), value)
    assert best is not None
    return best


class Scores:
    """Each family's dev cost of a rule, and the rows of every method: diarization scores
    cached by which method each recording ends up with (most thresholds pick alike)."""

    def __init__(self, diarizer: Diarization, verifier: Verification) -> None:
        self.diarizer, self.verifier = diarizer, verifier
        self._cache: dict[tuple[int, tuple[str, ...]], tuple[float, float]] = {}

    def diarization(self, versions: Versions, method: str | Rule) -> tuple[float, float]:
        """(VAD F1 %, DER %) of the recordings as ``method`` leaves them."""
        key = (id(versions), _methods(versions, method))
        if key not in self._cache:
            self._cache[key] = self.diarizer.score(picked(versions, method))
        return self._cache[key]

    def costs(self, dev: tuple[dict[str, Versions], dict[str, Versions]]) -> dict[str, Callable]:
        """Each family's dev cost of a rule: VAD 100 - F1, diarization DER, speakers EER,
        summed over the dev conditions."""
        diarization, verification = dev
        return {
            "vad": lambda r: sum(100 - self.diarization(v, r)[0] for v in diarization.values()),
            "diarization": lambda r: sum(self.diarization(v, r)[1] for v in diarization.values()),
            "speakers": lambda r: sum(
                self.verifier.score(picked(v, r))[0] for v in verification.values()
            ),
        }


def _methods(versions: Versions, method: str | Rule) -> tuple[str, ...]:
    if isinstance(method, str):
        return (method,) * len(versions.noisy)
    return tuple(auto_method(noisy, *method) for noisy in versions.noisy)


def _rows(
    split: str,
    measured: tuple[dict[str, Versions], dict[str, Versions]],
    scores: Scores,
    rules: dict[str, Rule],
) -> tuple[list, list]:
    diarization, verification = measured
    diarization_rows, verification_rows = [], []
    for snr, versions in diarization.items():
        for method in versions.results:
            diarization_rows.append([split, snr, method, *scores.diarization(versions, method)])
        f1 = scores.diarization(versions, rules["vad"])[0]
        der = scores.diarization(versions, rules["diarization"])[1]
        diarization_rows.append([split, snr, "auto", f1, der])
    for snr, versions in verification.items():
        for method in [*versions.results, rules["speakers"]]:
            label = method if isinstance(method, str) else "auto"
            verification_rows.append(
                [split, snr, label, *scores.verifier.score(picked(versions, method))]
            )
    return diarization_rows, verification_rows


def run() -> str:
    settings = Settings(_env_file=None)
    registry = ModelRegistry.from_settings(settings)
    enhancers = {spec.id: spec.load() for spec in registry.list("enhancement")}
    diarizer = Diarization(registry.get(SILERO_MODEL_ID).load(), registry.get(GE2E_MODEL_ID).load())
    verifier = Verification(registry.get(GE2E_MODEL_ID).load())
    measured = {  # clean speech is the same for both splits: measured (and listed) once
        split: (
            noisy_versions(
                diarizer.clean, split, (*DIARIZATION_SNRS, *extra), enhancers, diarizer.measure
            ),
            noisy_versions(
                verifier.clean, split, (*VERIFY_SNRS, *extra), enhancers, verifier.measure
            ),
        )
        for split, extra in (("dev", (CLEAN,)), ("test", ()))
    }
    scores = Scores(diarizer, verifier)
    chosen = {
        family: choose_auto(cost, list(enhancers))
        for family, cost in scores.costs(measured["dev"]).items()
    }
    rules = {family: rule for family, (rule, _) in chosen.items()}
    diarization_rows, verification_rows = [], []
    for split, split_measured in measured.items():
        rows = _rows(split, split_measured, scores, rules)
        diarization_rows += rows[0]
        verification_rows += rows[1]
    choices = "; ".join(
        f"{family}: `{rule[0]}` under an estimated {rule[1]:g} dB SNR (dev cost {cost:.1f})"
        for family, (rule, cost) in chosen.items()
    )
    return "\n\n".join(
        [
            f"{machine_load()}. auto chosen per family on dev noises (-inf: never "
            f"enhance): {choices}. The auto rows use the VAD rule for F1 and the "
            f"diarization rule for DER.",
            f"### Diarization recordings ({VAD_RECORDINGS}): Silero VAD F1, DER (GE2E)\n\n"
            + markdown_table(
                ["noises", "SNR dB", "method", "VAD F1 (%)", "DER (%) collar 0.25"],
                diarization_rows,
            ),
            f"### Speaker verification ({len(verifier.trials)} trials among "
            f"{len(verifier.files)} files, GE2E), both sides noisy\n\n"
            + markdown_table(
                ["noises", "SNR dB", "method", "EER (%)", "minDCF"], verification_rows
            ),
        ]
    )
