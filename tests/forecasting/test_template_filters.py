"""The report's number formats, as a manager reads them."""

from __future__ import annotations

import pytest

from forecasting.templatetags.forecasting_tags import duration


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (None, "–"),
        ("", "–"),
        (0.4, "< 1 min"),
        (12.2, "12 min"),
        (119, "119 min"),
        (210, "3.5 h"),
        (1731.11, "28.9 h"),
        (4000, "2.8 days"),
    ],
)
def test_a_duration_in_minutes_reads_in_minutes_hours_or_days(minutes, shown):
    assert duration(minutes) == shown
