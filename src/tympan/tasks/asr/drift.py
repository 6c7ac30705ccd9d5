"""Drift of an ASR model: how well it has been decoding lately, per model and language.

Speech recognition has no validation set to compare with, but Whisper judges each window it
decodes: the average log-probability of its tokens, the probability that the window holds no
speech, and the compression ratio of its text (repetition loops compress well). faster-whisper
retries a window at a higher temperature when the log-probability is under -1 or the ratio over
2.4; Tympan keeps those judgements for the recent windows of each model and language, and a
language drifts when too many of them fail those same checks (a new microphone, noise, an
accent or a language the model handles badly). A window Whisper calls silence (no-speech
probability over 0.6 with a low log-probability) is not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tympan.drift import Windows
from tympan.tasks.asr.decoding import DecodeOptions
from tympan.tasks.asr.results import Segment

__all__ = ["AsrDriftReport", "LanguageQuality", "asr_drift_report", "observe_window"]

_CHECKS = DecodeOptions()


def observe_window(windows: Windows, model_id: str, language: str, segments: list[Segment]) -> None:
    """Record how one decoded window fared (its segments share the window's judgement)."""
    if segments:
        first = segments[0]
        windows.add(
            (model_id, language),
            {
                "avg_logprob": first.avg_logprob,
                "no_speech_prob": first.no_speech_prob,
                "compression_ratio": first.compression_ratio,
            },
        )


@dataclass(frozen=True, slots=True)
class LanguageQuality:
    """One language's recent windows: Whisper's judgements on average, and how many failed."""

    language: str
    recent: int
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    failing_share: float
    drifting: bool

    @property
    def statistics(self) -> dict[str, float]:
        """The four figures by name (what ``/metrics`` exposes)."""
        return {
            "avg_logprob": self.avg_logprob,
            "no_speech_prob": self.no_speech_prob,
            "compression_ratio": self.compression_ratio,
            "failing_share": self.failing_share,
        }


@dataclass(frozen=True, slots=True)
class AsrDriftReport:
    """Whether a model's recent windows decode as well as Whisper expects, per language."""

    model: str
    min_samples: int
    failing_share_threshold: float
    drifting: bool
    languages: list[LanguageQuality]
    advice: str


def _failing(avg_logprob: np.ndarray, no_speech: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    low = avg_logprob < _CHECKS.log_prob_threshold
    silence = low & (no_speech > _CHECKS.no_speech_threshold)
    return (low & ~silence) | (ratio > _CHECKS.compression_ratio_threshold)


def asr_drift_report(
    model_id: str, windows: Windows, failing_share: float, min_samples: int
) -> AsrDriftReport:
    """The recent quality of ``model_id`` for every language it has decoded."""
    languages = []
    for key in sorted(key for key in windows.watched() if key[0] == model_id):
        recent = windows.recent(key)
        logprob, no_speech, ratio = (
            np.array([item[field] for item in recent])
            for field in ("avg_logprob", "no_speech_prob", "compression_ratio")
        )
        share = float(_failing(logprob, no_speech, ratio).mean())
        languages.append(
            LanguageQuality(
                key[1],
                len(recent),
                round(float(logprob.mean()), 4),
                round(float(no_speech.mean()), 4),
                round(float(ratio.mean()), 4),
                round(share, 4),
                len(recent) >= min_samples and share >= failing_share,
            )
        )
    drifting = [quality.language for quality in languages if quality.drifting]
    if drifting:
        advice = (
            f"Recent audio in {', '.join(drifting)} often fails Whisper's own checks. Noise: "
            "try noise_reduction. Another language or accent: pass language, or use the "
            "multilingual model. Unusual words: pass a prompt. If it persists, fine-tune the "
            "model on such audio."
        )
    elif not languages:
        advice = "No audio decoded by this model yet."
    else:
        advice = "Recent windows decode as well as Whisper expects."
    return AsrDriftReport(model_id, min_samples, failing_share, bool(drifting), languages, advice)
