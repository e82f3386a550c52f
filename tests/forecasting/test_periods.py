from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from forecasting.periods import parse_period, quarter_of, recent_quarters, week_start


def test_calendar_quarters_with_a_january_start():
    q = parse_period("2026-Q4", 1)
    assert (q.start, q.end) == (date(2026, 10, 1), date(2027, 1, 1))
    assert quarter_of(date(2026, 11, 23), 1) == q


def test_fiscal_year_is_named_after_the_year_it_ends_in():
    q1 = parse_period("2027-Q1", 4)  # April start: FY2027 = Apr 2026 – Mar 2027
    assert (q1.start, q1.end) == (date(2026, 4, 1), date(2026, 7, 1))
    assert quarter_of(date(2027, 3, 31), 4).label == "2027-Q4"
    assert quarter_of(date(2027, 4, 1), 4).label == "2028-Q1"


def test_recent_quarters_and_months_and_weeks():
    quarters = recent_quarters(1, 5, today=date(2026, 11, 23))
    assert [q.label for q in quarters] == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    month = parse_period("2026-02", 1)
    assert (month.start, month.end, month.kind) == (date(2026, 2, 1), date(2026, 3, 1), "month")
    assert week_start(date(2026, 11, 23)) == date(2026, 11, 23)  # a Monday
    assert week_start(date(2026, 11, 29)) == date(2026, 11, 23)
    assert parse_period("2026-Q4", 1).weeks()[0] == date(2026, 9, 28)


@pytest.mark.parametrize("label", ["", "2026-Q0", "2026-Q5", "26-Q1", "2026-13", "Q4"])
def test_bad_labels_are_rejected_with_a_message(label):
    with pytest.raises(ValidationError, match="not a period"):
        parse_period(label, 1)


def test_months_are_refused_where_only_quarters_make_sense():
    with pytest.raises(ValidationError):
        parse_period("2026-03", 1, allow_month=False)
