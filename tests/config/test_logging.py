"""Every log line carries the request id (or the Celery task id); LOG_FORMAT=json gives one
JSON object per line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from config.log import JsonFormatter, RequestIdFilter
from crm.audit import request_context


@pytest.fixture
def captured():
    """A handler set up as settings.LOGGING's console handler, in JSON, on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_request_logs_with_the_id_it_sends_back(client, captured, rep):
    client.force_login(rep)
    response = client.get("/leads/999999/", headers={"X-Request-ID": "req-abc-12345"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-abc-12345"
    lines = [line for line in captured() if line["logger"] == "django.request"]
    assert lines
    assert lines[0]["request_id"] == "req-abc-12345"
    assert lines[0]["level"] == "WARNING"
    assert "Not Found" in lines[0]["message"]


def test_lines_inside_a_request_context_carry_its_id_and_others_a_dash(captured):
    log = logging.getLogger("plumb.test")
    with request_context(request_id="ctx-0000-1111"):
        log.warning("inside")
    log.warning("outside")
    assert [(line["message"], line["request_id"]) for line in captured()] == [
        ("inside", "ctx-0000-1111"),
        ("outside", "-"),
    ]


def test_the_plain_format_names_the_request_id(settings):
    assert "[%(request_id)s]" in settings.LOGGING["formatters"]["plain"]["format"]
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]


def test_a_traceback_stays_inside_its_json_line(captured):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("plumb.test").exception("failed")
    (line,) = captured()
    assert line["message"] == "failed"
    assert "ValueError: boom" in line["exc_info"]
