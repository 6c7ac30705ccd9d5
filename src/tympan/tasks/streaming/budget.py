"""``PreviewBudget``: how often live sessions may preview their open turns, shared by all.

A preview re-decodes a turn that is still going (a full Whisper window for a few words), so
N sessions previewing every second cost N decodes a second, and past a few sessions previews
alone fill the model. The budget keeps what previews take to about ``share`` of the model's
time: each session waits ``sessions x preview time / share`` between previews (never less
than the configured interval), with the preview time measured as it goes (a moving average
of submit -> text, so waiting behind other work counts as load too).
"""

from __future__ import annotations

__all__ = ["PreviewBudget"]

_SMOOTHING = 0.3  # weight of the newest preview time in the moving average


class PreviewBudget:
    """The shared preview rate: ``record`` each preview's time, ask ``interval`` before one."""

    def __init__(self, share: float = 0.5) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.seconds = 0.0  # moving average of one preview's time
        self.count = 0  # previews recorded

    def record(self, seconds: float) -> None:
        """Count a finished preview that took ``seconds`` from submit to text."""
        self.count += 1
        previous = self.seconds or seconds
        self.seconds = (1 - _SMOOTHING) * previous + _SMOOTHING * seconds

    def interval(self, base: float, sessions: int) -> float:
        """Seconds a session waits between previews when ``sessions`` share the model."""
        return max(base, sessions * self.seconds / self.share)
