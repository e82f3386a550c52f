"""The leads list, the lead page and their forms, as a user sees them."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from leads.models import Lead, LeadTransition
from pipeline.models import Opportunity
from tests.factories import ActivityFactory, LeadFactory, PipelineFactory
from tests.leads.factories import LeadReasonFactory

pytestmark = pytest.mark.django_db


def test_rep_lands_on_my_leads(client, rep, manager):
    LeadFactory(owner=rep, email="mine@x.example")
    LeadFactory(owner=manager, email="boss@x.example")
    client.force_login(rep)
    body = client.get(reverse("leads:list")).content.decode()
    assert "mine@x.example" in body
    assert "boss@x.example" not in body
    assert '<option value="me" selected>My leads</option>' in body


def test_manager_sees_team_and_unassigned(client, rep, other_rep, manager):
    LeadFactory(owner=rep, email="team@x.example")
    LeadFactory(owner=other_rep, email="other@x.example")
    LeadFactory(email="free@x.example")
    client.force_login(manager)
    body = client.get(reverse("leads:list")).content.decode()
    assert "team@x.example" in body
    assert "free@x.example" in body
    assert "other@x.example" not in body


def test_filters_search_and_sort(client, marketing):
    LeadFactory(first_name="Ada", last_name="Lovelace", company="Engines", score=90, stage="mql")
    LeadFactory(first_name="Bob", last_name="Builder", company="Builders", score=5)
    client.force_login(marketing)
    body = client.get(reverse("leads:list"), {"q": "ada love"}).content.decode()
    assert "Ada Lovelace" in body
    assert "Bob Builder" not in body
    body = client.get(reverse("leads:list"), {"stage": "mql"}).content.decode()
    assert "Bob Builder" not in body
    body = client.get(reverse("leads:list"), {"sort": "-score"}).content.decode()
    assert body.index("Ada Lovelace") < body.index("Bob Builder")
    body = client.get(reverse("leads:list"), {"sort": "score"}).content.decode()
    assert body.index("Bob Builder") < body.index("Ada Lovelace")


def test_htmx_request_gets_the_table_fragment(client, marketing):
    client.force_login(marketing)
    response = client.get(reverse("leads:list"), headers={"HX-Request": "true"})
    names = {t.name for t in response.templates}
    assert "leads/_table.html" in names
    assert "base.html" not in names
    assert 'id="sort-input"' in response.content.decode()


def test_bad_filter_values_are_ignored_not_500(client, marketing):
    client.force_login(marketing)
    response = client.get(reverse("leads:list"), {"score_min": "lots", "created_from": "x"})
    assert response.status_code == 200


def test_list_query_count_is_constant(client, marketing, rep, django_assert_max_num_queries):
    client.force_login(marketing)
    for size in (3, 60):
        LeadFactory.create_batch(size, owner=rep)
        with django_assert_max_num_queries(12):
            assert client.get(reverse("leads:list")).status_code == 200


def test_csv_export_of_the_filtered_list_neutralises_formulas(client, marketing):
    LeadFactory(first_name="=HYPERLINK(1)", company="+Evil", stage="mql")
    LeadFactory(first_name="Plain", stage="new")
    client.force_login(marketing)
    response = client.get(reverse("leads:export"), {"stage": "mql"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "first_name", "last_name", "email"]
    assert len(rows) == 2
    assert rows[1][1] == "'=HYPERLINK(1)"
    assert rows[1][4] == "'+Evil"


def test_export_query_count_is_constant(client, marketing, django_assert_max_num_queries):
    client.force_login(marketing)
    for size in (3, 60):
        LeadFactory.create_batch(size)
        with django_assert_max_num_queries(10):
            response = client.get(reverse("leads:export"))
            b"".join(response.streaming_content)


def test_bulk_assign_and_disqualify(client, manager, rep):
    leads = LeadFactory.create_batch(3, stage="mql")
    reason = LeadReasonFactory(label="No budget")
    client.force_login(manager)
    ids = [x.pk for x in leads]
    client.post(reverse("leads:bulk"), {"action": "assign", "ids": ids, "owner": rep.pk})
    assert Lead.objects.filter(owner=rep).count() == 3
    client.post(
        reverse("leads:bulk"), {"action": "disqualify", "ids": ids[:2], "reason": reason.label}
    )
    assert Lead.objects.filter(stage="disqualified", stage_reason="No budget").count() == 2


def test_bulk_action_skips_leads_out_of_scope(client, rep, other_rep):
    theirs = LeadFactory(owner=other_rep, stage="new")
    client.force_login(rep)
    client.post(reverse("leads:bulk"), {"action": "stage", "ids": [theirs.pk], "stage": "mql"})
    assert Lead.objects.get(pk=theirs.pk).stage == "new"


def test_bulk_mql_to_srl_skips_leads_without_owner(client, manager, rep):
    owned = LeadFactory(stage="mql", owner=rep)
    free = LeadFactory(stage="mql")
    client.force_login(manager)
    response = client.post(
        reverse("leads:bulk"),
        {"action": "stage", "ids": [owned.pk, free.pk], "stage": "srl"},
        follow=True,
    )
    assert Lead.objects.get(pk=owned.pk).stage == "srl"
    assert Lead.objects.get(pk=free.pk).stage == "mql"
    assert "1 skipped" in response.content.decode()


def test_lead_page_shows_fields_buttons_score_and_timeline(client, rep):
    lead = LeadFactory(owner=rep, stage="mql", email="ada@x.example", score=42)
    LeadTransition.objects.create(lead=lead, from_stage="new", to_stage="mql", at=lead.created_at)
    ActivityFactory(lead=lead, owner=rep, subject="Intro call")
    client.force_login(rep)
    body = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "ada@x.example" in body
    assert 'id="lead-score"' in body
    assert 'data-stage="srl"' in body
    assert 'data-stage="sql"' not in body
    assert "Intro call" in body
    assert "New → MQL" in body


def test_lead_page_of_another_reps_lead_is_404(client, rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    client.force_login(rep)
    assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 404


def test_refused_transition_rerenders_with_the_reason(client, rep):
    lead = LeadFactory(owner=rep, stage="srl")
    client.force_login(rep)
    response = client.post(reverse("leads:transition", args=[lead.pk]), {"to": "sql"})
    assert response.status_code == 422
    assert "BANT is incomplete" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == "srl"


def test_bant_form_then_sql_then_convert(client, rep):
    PipelineFactory(is_default=True)
    lead = LeadFactory(owner=rep, stage="srl")
    client.force_login(rep)
    answers = {f"{i}_confirmed": "true" for i in Lead.BANT} | {"need_note": "Leaky funnel"}
    client.post(reverse("leads:bant", args=[lead.pk]), answers)
    client.post(reverse("leads:transition", args=[lead.pk]), {"to": "sql"})
    lead.refresh_from_db()
    assert (lead.stage, lead.need_note) == ("sql", "Leaky funnel")
    pipeline = PipelineFactory()
    response = client.post(
        reverse("leads:convert", args=[lead.pk]),
        {
            "pipeline": pipeline.pk,
            "amount": "900",
            "expected_close_date": "2027-01-31",
            "deal_type": "new_business",
        },
    )
    assert response.status_code == 302
    assert Opportunity.objects.get().pipeline == pipeline


def test_convert_form_errors_are_422(client, rep):
    lead = LeadFactory(owner=rep, stage="sql")
    client.force_login(rep)
    response = client.post(reverse("leads:convert", args=[lead.pk]), {"amount": "-1"})
    assert response.status_code == 422
    assert Opportunity.objects.exists() is False


def test_add_task_and_edit(client, rep):
    lead = LeadFactory(owner=rep, title="CTO")
    client.force_login(rep)
    client.post(
        reverse("leads:add_activity", args=[lead.pk]),
        {"kind": "call", "subject": "First call"},
    )
    response = client.post(
        reverse("leads:add_activity", args=[lead.pk]), {"kind": "task", "subject": "T"}
    )
    assert response.status_code == 422  # a task needs a due time
    lead.refresh_from_db()
    assert lead.first_contacted_at is not None
    data = {
        name: getattr(lead, name) or "" for name in ("first_name", "last_name", "email", "source")
    }
    client.post(reverse("leads:edit", args=[lead.pk]), {**data, "title": "CEO"})
    lead.refresh_from_db()
    assert lead.title == "CEO"


def test_lead_page_query_count_is_constant_in_timeline_length(
    client, rep, django_assert_max_num_queries
):
    lead = LeadFactory(owner=rep, stage="mql")
    client.force_login(rep)
    for size in (2, 40):
        ActivityFactory.create_batch(size, lead=lead, owner=rep)
        LeadTransition.objects.bulk_create(
            LeadTransition(lead=lead, from_stage="new", to_stage="mql", at=lead.created_at, by=rep)
            for _ in range(size)
        )
        with django_assert_max_num_queries(16):
            assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 200


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("rep", {"mine"}),
        ("other_rep", {"theirs"}),
        ("manager", {"mine", "nobody"}),
        ("other_manager", {"theirs", "nobody"}),
        ("marketing", {"mine", "theirs", "nobody"}),
        ("admin_user", {"mine", "theirs", "nobody"}),
    ],
)
def test_every_role_opens_exactly_the_leads_in_its_scope(
    client, request, rep, other_rep, role, visible
):
    leads = {
        "mine": LeadFactory(owner=rep),
        "theirs": LeadFactory(owner=other_rep),
        "nobody": LeadFactory(),
    }
    client.force_login(request.getfixturevalue(role))
    listed = client.get(reverse("leads:list"), {"owner": ""}).content.decode()
    for name, lead in leads.items():
        status = client.get(reverse("leads:detail", args=[lead.pk])).status_code
        assert (status == 200) is (name in visible)
        assert (f'id="lead-{lead.pk}"' in listed) is (name in visible)
