"""The simulated period as integer days since 2019-01-01 (day 0), and calendar helpers."""

from __future__ import annotations

from datetime import date

import numpy as np

PERIOD_START = date(2019, 1, 1)
PERIOD_END = date(2025, 12, 31)
EPOCH_ORD = PERIOD_START.toordinal()
LAST_DAY = PERIOD_END.toordinal() - EPOCH_ORD
YEARS = tuple(range(PERIOD_START.year, PERIOD_END.year + 1))
NEVER = 10**6  # a day after every event: "this never happens in the period"
EPOCH64 = np.datetime64(PERIOD_START.isoformat(), "D")


def day(year: int, month: int, dom: int) -> int:
    """Day number of a calendar date."""
    return date(year, month, dom).toordinal() - EPOCH_ORD


def to_date(d: int) -> date:
    return date.fromordinal(EPOCH_ORD + d)


def add_years(d: int, years: int) -> int:
    """The same calendar date `years` later (29 February becomes 28 February)."""
    start = to_date(d)
    dom = 28 if (start.month, start.day) == (2, 29) else start.day
    return day(start.year + years, start.month, dom)


def year_of(d: int) -> int:
    return to_date(d).year


# Month k = 0..83 is 2019-01..2025-12; MONTH_START has one extra entry (2026-01-01).
MONTHS = 12 * len(YEARS)
MONTH_START = np.array(
    [day(YEARS[0] + k // 12, k % 12 + 1, 1) for k in range(MONTHS + 1)], dtype=np.int64
)
MONTH_LEN = np.diff(MONTH_START)
MONTH_OF_DAY = np.searchsorted(MONTH_START, np.arange(LAST_DAY + 1), side="right") - 1

