"""What notify remembers of a loan: whose it is and which title (licence events name only the loan)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoanRecord:
    loan_id: str
    patron_id: str
    title_id: str
