"""Per-request budgets: how much work one request may ask for, checked before the work starts.

Every budget is a field of ``Settings``. A request over one is refused with ``BudgetExceeded``
(413) — or ``InvalidParameter`` (400) when a parameter alone is out of bounds — and the message
names the limit's ``TYMPAN_`` variable, so whoever reads it knows which knob governs it.
``SecondsBudget`` spreads one allowance of audio seconds over the files of a request (files x
seconds), so it can be enforced while each file decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tympan.config import Settings
from tympan.errors import BudgetExceeded, InvalidParameter, TympanError

__all__ = ["SecondsBudget", "check_budget", "over_budget", "setting_variable"]


def setting_variable(setting: str) -> str:
    """The environment variable of a ``Settings`` field (``max_json_bytes`` ->
    ``TYMPAN_MAX_JSON_BYTES``)."""
    return f"TYMPAN_{setting.upper()}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def over_budget(
    setting: str,
    limit: float,
    needed: str,
    *,
    param: str | None = None,
    status: Literal[400, 413] = 413,
) -> TympanError:
    """The refusal for a request that ``needed`` more than ``limit`` (the ``setting``)."""
    message = (
        f"This request needs {needed}; the limit is {_number(limit)} ({setting_variable(setting)})."
    )
    cls = BudgetExceeded if status == 413 else InvalidParameter
    return cls(message, param=param, code="budget_exceeded")


def check_budget(
    settings: Settings,
    setting: str,
    amount: float,
    what: str,
    *,
    param: str | None = None,
    status: Literal[400, 413] = 413,
) -> None:
    """Refuse (413, or 400 for a parameter) when ``amount`` of ``what`` is over the setting."""
    limit = getattr(settings, setting)
    if amount > limit:
        raise over_budget(setting, limit, f"{_number(amount)} {what}", param=param, status=status)


@dataclass(slots=True)
class SecondsBudget:
    """One allowance of audio seconds shared by every file of a request."""

    setting: str
    limit: float
    used: float = 0.0

    @classmethod
    def of(cls, settings: Settings, setting: str) -> SecondsBudget:
        """The budget ``setting`` of ``settings``, nothing used yet."""
        return cls(setting, float(getattr(settings, setting)))

    @property
    def remaining(self) -> float:
        """Seconds the next files may still add up to."""
        return max(self.limit - self.used, 0.0)

    def spend(self, seconds: float, *, param: str | None = None) -> None:
        """Count ``seconds`` more; ``BudgetExceeded`` once the total is over the limit."""
        self.used += seconds
        if self.used > self.limit:
            raise self.refusal(param=param)

    def refusal(self, *, param: str | None = None) -> TympanError:
        """The error for a request whose files add up to more than the budget."""
        needed = f"more than {_number(self.limit)} seconds of audio across its files"
        return over_budget(self.setting, self.limit, needed, param=param)
