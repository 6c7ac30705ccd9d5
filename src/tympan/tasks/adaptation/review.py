"""Whether a corrections job's new version replaces production: scored, then promoted or not.

The new version and the current one (production, else the bundled base) transcribe the
held-back corrections, which training never saw, and a few clips of general English
(``TYMPAN_CORRECTIONS_GENERAL_DIR``, the first ``TYMPAN_CORRECTIONS_GENERAL_CLIPS``), with the
serving decoder (greedy). The new version goes to production only if its WER on the held-back
corrections is lower and its general-English WER is at most ``MAX_GENERAL_REGRESSION`` higher;
otherwise it stays published (staging), and the job's events and result say why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tympan.audio import decode_audio
from tympan.config import Settings
from tympan.store.finetuning import FineTunedModel
from tympan.tasks.adaptation.dataset import Utterance, read_manifest
from tympan.tasks.adaptation.scoring import word_error_rate
from tympan.tasks.asr.decoding import ChunkJob, DecodeOptions, decode_chunks

if TYPE_CHECKING:
    from tympan.api.services import Services
    from tympan.tasks.adaptation.service import FineTuningService

__all__ = ["MAX_GENERAL_REGRESSION", "decide", "general_english", "review_promotion", "score"]

MAX_GENERAL_REGRESSION = 0.005  # 0.5 WER points
_GREEDY = DecodeOptions(beam_size=1, best_of=1, temperatures=(0.0,))


def general_english(settings: Settings) -> list[Utterance]:
    """The first clips of the general-English set (none when it is not configured)."""
    folder: Path | None = settings.corrections_general_dir
    if folder is None:
        return []
    return read_manifest(folder)[: settings.corrections_general_clips]


def score(services: Services, model: str, utterances: list[Utterance]) -> float:
    """Corpus WER of ``model`` (an ASR model id) on ``utterances``, decoded as served (greedy)."""
    handle = services.registry.get(model, task="asr").load()
    try:
        jobs = [ChunkJob(decode_audio(u.audio).samples, 0.0, _GREEDY) for u in utterances]
        hypotheses = []
        for segments in decode_chunks(handle, jobs):
            if isinstance(segments, BaseException):
                raise segments
            hypotheses.append(" ".join(segment.text.strip() for segment in segments))
    finally:
        handle.close()
    return word_error_rate([u.text for u in utterances], hypotheses)


def decide(scores: dict[str, dict[str, float | None]]) -> tuple[bool, str]:
    """(promote, why) from the WERs ``{"held_back"|"general": {"current", "new"}}``."""
    held, general = scores["held_back"], scores["general"]
    new_held, current_held = held["new"], held["current"]
    assert new_held is not None and current_held is not None
    if new_held >= current_held:
        return False, (
            f"not promoted: held-back corrections WER {new_held:.1%} does not beat the current "
            f"{current_held:.1%}"
        )
    if general["new"] is None or general["current"] is None:
        return False, "not promoted: no general English set (set TYMPAN_CORRECTIONS_GENERAL_DIR)"
    regression = general["new"] - general["current"]
    if regression > MAX_GENERAL_REGRESSION:
        return False, (
            f"not promoted: general English WER {general['new']:.1%} regresses "
            f"{regression * 100:.1f} points from {general['current']:.1%} (limit "
            f"{MAX_GENERAL_REGRESSION * 100:.1f})"
        )
    return True, (
        f"promoted: held-back corrections WER {current_held:.1%} -> {new_held:.1%}, general "
        f"English {general['current']:.1%} -> {general['new']:.1%}"
    )


def review_promotion(
    services: Services,
    fine_tuning: FineTuningService,
    name: str,
    current: str,
    held_back: list[Utterance],
) -> Callable[[str, FineTunedModel], dict[str, Any]]:
    """The job's last step: score ``current`` and the new version of ``name``, then promote
    the new one to production if ``decide`` says so; adds ``promoted``, ``reason`` and the
    scores to the job's result."""

    def review(job_id: str, published: FineTunedModel) -> dict[str, Any]:
        events = fine_tuning.store
        events.add_event(job_id, f"Scoring {published.ref} against {current}.")
        general = general_english(services.settings)
        scores: dict[str, dict[str, float | None]] = {
            "held_back": {
                "current": score(services, current, held_back),
                "new": score(services, published.ref, held_back),
            },
            "general": {
                "current": score(services, current, general) if general else None,
                "new": score(services, published.ref, general) if general else None,
            },
        }
        promote, reason = decide(scores)
        if promote:
            fine_tuning.promote(name, published.version, "production")
        events.add_event(job_id, f"{published.ref} {reason}.", {"scores": scores},
                         level="info" if promote else "warn")  # fmt: skip
        return {
            "promoted": promote,
            "reason": reason,
            "scores": scores,
            "held_back": len(held_back),
            "general_clips": len(general),
        }

    return review
