"""Forecasting pages render for every input, including none."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_pipeline_size_page_opens_empty_before_any_input(client, rep):
    # An unbound calculator renders dashes, not a crash on the missing result.
    client.force_login(rep)
    response = client.get("/reports/pipeline-size/")
    assert response.status_code == 200
    assert 'id="ps-deals">–<' in response.content.decode()
