"""crm.bulk: set-based writes and the `__any` lookup behave like their ORM equivalents."""

from __future__ import annotations

import pytest

from leads.models import Lead
from scoring.models import EngagementEvent
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_any_lookup_matches_like_in_on_columns_and_relations(django_assert_num_queries):
    leads = LeadFactory.create_batch(3)
    EngagementEvent.objects.create(
        external_id="x", lead=leads[1], type="email_opened", occurred_at=leads[1].created_at
    )
    wanted = [leads[0].pk, leads[1].pk, 999_999]
    assert set(Lead.objects.filter(pk__any=wanted)) == set(leads[:2])
    assert list(Lead.objects.filter(email__any=[leads[2].email]).values_list("pk", flat=True)) == [
        leads[2].pk
    ]
    assert EngagementEvent.objects.filter(lead_id__any=wanted).count() == 1
    with django_assert_num_queries(0):
        assert list(Lead.objects.filter(pk__any=[])) == []


def test_insert_and_update_rows_write_every_column_type(django_assert_num_queries):
    from django.utils import timezone

    from crm.bulk import insert_rows, update_rows
    from scoring.models import ScoreHistory

    leads = LeadFactory.create_batch(2)
    now = timezone.now()
    with django_assert_num_queries(1):
        insert_rows(
            ScoreHistory,
            {
                "lead_id": [lead.pk for lead in leads],
                "at": [now, now],
                "score": [5, -3],
                "fit_score": [5, 0],
                "engagement_score": [0, -3],
                "version": [None, 2],
                "reason": ["lead", "event"],
            },
        )
    assert sorted(ScoreHistory.objects.values_list("score", "version", "reason")) == [
        (-3, 2, "event"),
        (5, None, "lead"),
    ]
    with django_assert_num_queries(1):
        update_rows(
            Lead,
            [lead.pk for lead in leads],
            {"score": [7, 8], "score_breakdown": [[[1, 1, 7]], []], "scored_at": [now, None]},
        )
    rows = dict(Lead.objects.values_list("pk", "score_breakdown"))
    assert rows == {leads[0].pk: [[1, 1, 7]], leads[1].pk: []}
    assert list(Lead.objects.order_by("pk").values_list("score", flat=True)) == [7, 8]


def test_array_literals_carry_hostile_text_nulls_json_and_datetimes_unchanged():
    """Every value bound through pg_array comes back exactly as sent: quotes, backslashes,
    braces, commas, the word NULL, empty strings, None, JSON with quotes, aware datetimes."""
    from datetime import UTC, datetime

    from crm.bulk import insert_rows, update_rows
    from scoring.models import EngagementEvent

    lead = LeadFactory()
    hostile = ['a"b', "back\\slash", "{x,y}", "NULL", "", "comma, here", "tab\tnew\nline", "é 日本"]
    when = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    insert_rows(
        EngagementEvent,
        {
            "external_id": hostile,
            "lead_id": [lead.pk] * len(hostile),
            "type": ["page_viewed"] * len(hostile),
            "occurred_at": [when] * len(hostile),
            "url": hostile[::-1],
            "properties": [{"say": text, "n": [1, None]} for text in hostile],
            "received_at": [when] * len(hostile),
        },
    )
    rows = EngagementEvent.objects.order_by("pk").values_list(
        "external_id", "url", "properties", "occurred_at"
    )
    assert [row[0] for row in rows] == hostile
    assert [row[1] for row in rows] == hostile[::-1]
    assert [row[2] for row in rows] == [{"say": text, "n": [1, None]} for text in hostile]
    assert {row[3] for row in rows} == {when}
    update_rows(Lead, [lead.pk], {"title": ['He said "hi" \\o/'], "employee_count": [None]})
    lead.refresh_from_db()
    assert (lead.title, lead.employee_count) == ('He said "hi" \\o/', None)
    assert list(Lead.objects.filter(title__any=['He said "hi" \\o/'])) == [lead]
    assert list(
        EngagementEvent.objects.filter(external_id__any=["NULL", ""])
        .values_list("external_id", flat=True)
        .order_by("pk")
    ) == ["NULL", ""]


def test_array_literals_write_enum_members_by_value():
    from enum import IntEnum

    from crm.bulk import pg_array

    class Size(IntEnum):
        BIG = 500

    assert pg_array([Size.BIG, 7, None, 1.5, True]) == "{500,7,NULL,1.5,t}"
    assert pg_array([Lead.Lifecycle.MQL, "plain"]) == '{"mql","plain"}'
