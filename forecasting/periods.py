"""Fiscal periods: quarters and months, weeks starting on Monday.

A fiscal year starts in `OrgSettings.fiscal_year_start_month` and is named after the calendar
year in which it ends (start month February: FY2027 = February 2026 – January 2027). With the
default January start the fiscal and calendar years coincide. Labels: `2026-Q4`, `2026-03`
(a calendar month).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import OrgSettings

QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    """A half-open date range [start, end) with a label; pure value object, no queries."""

    label: str
    start: date
    end: date  # exclusive
    kind: str  # "quarter" | "month"

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end, time.min))

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def contains(self, day: date | None) -> bool:
        return day is not None and self.start <= day < self.end

    def weeks(self) -> list[date]:
        """Monday of every week that overlaps the period, in order."""
        monday = week_start(self.start)
        out = []
        while monday < self.end:
            out.append(monday)
            monday += timedelta(days=7)
        return out

    def previous(self, start_month: int) -> Period:
        return quarter_of(self.start - timedelta(days=1), start_month)

    def next(self, start_month: int) -> Period:
        return quarter_of(self.end, start_month)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def fiscal_start_month() -> int:
    """The month (1–12) the organisation's fiscal year starts in (Settings → Quotas)."""
    return OrgSettings.load().fiscal_year_start_month


def quarter_of(day: date, start_month: int) -> Period:
    """The fiscal quarter containing `day`."""
    offset = (day.month - start_month) % 12  # months since the fiscal year began
    fy_start = _add_months(date(day.year, day.month, 1), -offset)
    quarter = offset // 3 + 1
    start = _add_months(fy_start, (quarter - 1) * 3)
    fiscal_year = fy_start.year if start_month == 1 else fy_start.year + 1
    return Period(f"{fiscal_year}-Q{quarter}", start, _add_months(start, 3), "quarter")


def month_of(day: date) -> Period:
    start = date(day.year, day.month, 1)
    return Period(f"{day.year}-{day.month:02d}", start, _add_months(start, 1), "month")


def parse_period(label: str, start_month: int, *, allow_month: bool = True) -> Period:
    """`2026-Q4` (fiscal quarter) or `2026-03` (calendar month); ValidationError otherwise."""
    label = (label or "").strip()
    if match := QUARTER_RE.match(label):
        fiscal_year, quarter = int(match[1]), int(match[2])
        first_year = fiscal_year if start_month == 1 else fiscal_year - 1
        start = _add_months(date(first_year, start_month, 1), (quarter - 1) * 3)
        return Period(label, start, _add_months(start, 3), "quarter")
    if allow_month and (match := MONTH_RE.match(label)):
        return month_of(date(int(match[1]), int(match[2]), 1))
    expected = "a fiscal quarter like 2026-Q4" + (" or a month like 2026-03" if allow_month else "")
    raise ValidationError({"period": f"'{label}' is not a period: expected {expected}."})


def current_quarter(start_month: int, today: date | None = None) -> Period:
    return quarter_of(today or timezone.localdate(), start_month)


def recent_quarters(start_month: int, count: int, today: date | None = None) -> list[Period]:
    """The current quarter and the `count - 1` before it, oldest first."""
    quarter = current_quarter(start_month, today)
    out = [quarter]
    for _ in range(count - 1):
        out.append(out[-1].previous(start_month))
    return out[::-1]


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())
