"""A library's lending policy: loan periods a patron may choose, limits, renewals, hold windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lending.errors import LoanPeriodNotAllowed


@dataclass(frozen=True)
class LendingPolicy:
    loan_periods: tuple[timedelta, ...] = field(
        default_factory=lambda: (timedelta(days=7), timedelta(days=14), timedelta(days=21))
    )
    max_loans: int = 5
    max_holds: int = 5
    max_renewals: int = 2
    hold_window: timedelta = timedelta(hours=72)  # a ready hold waits this long to be borrowed
    card_validity: timedelta = timedelta(days=365 * 3)

    @property
    def default_period(self) -> timedelta:
        return self.loan_periods[len(self.loan_periods) // 2]

    def period(self, requested: timedelta | None) -> timedelta:
        """The loan period to use: the requested one if the library offers it, else refuse."""
        if requested is None:
            return self.default_period
        if requested not in self.loan_periods:
            offered = ", ".join(_describe(period) for period in self.loan_periods)
            raise LoanPeriodNotAllowed(f"{_describe(requested)} is not offered; choose one of {offered}")
        return requested

    def due_at(self, start: datetime, requested: timedelta | None) -> datetime:
        return start + self.period(requested)


def _describe(period: timedelta) -> str:
    if period % timedelta(days=1) == timedelta(0):
        return f"{period.days} days"
    return f"{int(period.total_seconds())} seconds"
