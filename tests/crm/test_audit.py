from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from crm import audit
from crm.models import AuditLog
from crm.services import create_api_token, revoke_api_token
from leads.models import Lead
from leads.services import transition_leads
from pipeline.models import Stage
from pipeline.services import create_opportunity, move_opportunity
from tests.factories import LeadFactory, OpportunityFactory, PipelineFactory

pytestmark = pytest.mark.django_db


def test_record_many_writes_one_row_per_record_in_a_few_queries(rep, django_assert_max_num_queries):
    leads = LeadFactory.create_batch(30, owner=rep)
    with django_assert_max_num_queries(1):
        written = audit.record_many(
            actor=rep, action="lead.bulk", model=Lead, ids=[lead.pk for lead in leads]
        )
    assert written == 30
    assert set(AuditLog.objects.values_list("bulk_count", flat=True)) == {30}


def test_record_entries_writes_mixed_targets_and_repeats_in_one_query(
    rep, org, django_assert_num_queries
):
    entries = [
        audit.Entry(model=type(rep), target_id=rep.pk, changes={"period": "2026-Q4"}),
        audit.Entry(model=type(rep), target_id=rep.pk, changes={"period": "2027-Q1"}),
        audit.Entry(model=type(org["team_a"]), target_id=org["team_a"].pk, changes={}),
    ]
    with django_assert_num_queries(1):
        written = audit.record_entries(actor=rep, action="quota.import", entries=entries)
    assert written == 3
    assert sorted(AuditLog.objects.values_list("target_type", "target_id", "bulk_count")) == [
        ("crm.team", str(org["team_a"].pk), 3),
        ("crm.user", str(rep.pk), 3),
        ("crm.user", str(rep.pk), 3),
    ]


def test_a_bulk_lifecycle_move_is_audited_per_lead(rep):
    leads = LeadFactory.create_batch(3, owner=rep)
    moved = transition_leads(lead_ids=[lead.pk for lead in leads], to="mql", by=rep)
    entries = AuditLog.objects.filter(action="lead.transition")
    assert sorted(int(e.target_id) for e in entries) == sorted(moved)
    assert entries.first().changes["stage"] == ["new", "mql"]
    assert entries.first().bulk_count == 3


def test_deal_creation_and_stage_moves_are_audited(rep):
    pipeline = PipelineFactory()
    deal = create_opportunity(by=rep, name="Deal", pipeline=pipeline)
    proposal = Stage.objects.get(pipeline=pipeline, name="Proposal")
    move_opportunity(opportunity=deal, to_stage=proposal, expected_version=deal.version, by=rep)
    actions = list(audit.history_for(deal).values_list("action", flat=True))
    assert actions == ["opportunity.move", "opportunity.create"]


def test_tokens_created_and_revoked_are_audited(admin_user, marketing):
    token, _ = create_api_token(user=marketing, name="sync", scopes=["leads:read"], by=admin_user)
    revoke_api_token(token=token, by=admin_user)
    revoke_api_token(token=token, by=admin_user)  # a second revoke changes nothing
    assert list(audit.history_for(token).values_list("action", flat=True)) == [
        "token.revoke",
        "token.create",
    ]


def test_a_rolled_back_change_leaves_no_entry(rep):
    from django.db import transaction

    lead = LeadFactory(owner=rep)

    def change_then_fail() -> None:
        with transaction.atomic():
            audit.record(actor=rep, action="lead.update", target=lead)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert AuditLog.objects.exists() is False


def test_the_history_tab_shows_a_records_changes_to_those_who_see_it(client, rep, other_rep):
    lead = LeadFactory(owner=rep)
    transition_leads(lead_ids=[lead.pk], to="mql", by=rep)
    client.force_login(rep)
    response = client.get(reverse("settings:history_leads", args=[lead.pk]))
    assert response.status_code == 200
    assert "lead.transition" in response.content.decode()
    client.force_login(other_rep)
    assert client.get(reverse("settings:history_leads", args=[lead.pk])).status_code == 404


def test_history_tab_queries_stay_flat(client, rep, django_assert_max_num_queries):
    deal = OpportunityFactory(owner=rep)
    client.force_login(rep)
    for size in (2, 40):
        for _ in range(size):
            audit.record(actor=rep, action="opportunity.update", target=deal)
        with django_assert_max_num_queries(6):
            client.get(reverse("settings:history_opportunities", args=[deal.pk]))


def _seed_log(admin_user, rep):
    lead = LeadFactory(owner=rep, first_name="=HYPERLINK(1)", last_name="")
    audit.record(actor=admin_user, action="lead.update", target=lead, changes={"x": [1, 2]})
    audit.record(actor=rep, action="user.profile", target=rep)
    return lead


def test_admins_filter_the_audit_log_by_actor_and_action(client, admin_user, rep):
    _seed_log(admin_user, rep)
    client.force_login(admin_user)
    page = client.get(reverse("settings:audit"), {"actor": rep.pk}).content.decode()
    rows = page[page.index('<div id="audit-rows">') :]
    assert "<code>user.profile</code>" in rows
    assert "<code>lead.update</code>" not in rows
    fragment = client.get(
        reverse("settings:audit"), {"action": "lead.update"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="audit-rows">')
    assert "<code>lead.update</code>" in fragment
    assert "<code>user.profile</code>" not in fragment


def test_the_unfiltered_audit_page_lists_every_entry(client, admin_user, rep):
    _seed_log(admin_user, rep)
    client.force_login(admin_user)
    page = client.get(reverse("settings:audit")).content.decode()
    assert "<code>lead.update</code>" in page
    assert "<code>user.profile</code>" in page


def test_the_audit_export_is_filtered_csv_with_formulas_neutralised(client, admin_user, rep):
    _seed_log(admin_user, rep)
    client.force_login(admin_user)
    response = client.get(reverse("settings:audit_export"), {"action": "lead.update"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["at", "actor", "action"]
    assert len(rows) == 2
    assert rows[1][1:3] == [admin_user.username, "lead.update"]
    assert rows[1][5] == "'=HYPERLINK(1)"


def test_audit_page_queries_stay_flat(client, admin_user, rep, django_assert_max_num_queries):
    client.force_login(admin_user)
    for size in (3, 60):
        for _ in range(size):
            audit.record(actor=rep, action="user.profile", target=rep)
        with django_assert_max_num_queries(8):
            assert client.get(reverse("settings:audit")).status_code == 200


def test_only_admins_see_the_audit_log(client, manager, rep):
    for user in (manager, rep):
        client.force_login(user)
        assert client.get(reverse("settings:audit")).status_code == 403
        assert client.get(reverse("settings:audit_export")).status_code == 403
