"""The outbox: the services that change records write their webhook events in their own
transaction, set-based."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import Min
from django.test.utils import CaptureQueriesContext

from activities.models import Activity
from activities.services import create_activity
from crm.models import User
from crm.services_users import reassign_open_work
from leads.importing.service import import_leads
from leads.models import Lead
from leads.services import assign_leads, record_bant, transition_lead, update_lead
from pipeline import services as pipeline_services
from pipeline.models import LostReason
from tests.factories import LeadFactory, OpportunityFactory, PipelineFactory
from tests.webhooks.factories import WebhookSubscriptionFactory
from webhooks.events import record_events
from webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


def _events(kind=None):
    """In the order they were written (their deliveries' ids)."""
    rows = WebhookEvent.objects.annotate(first=Min("deliveries__id")).order_by("first")
    return list(rows.filter(type=kind) if kind else rows)


def _listen(*events, **kwargs):
    return WebhookSubscriptionFactory(events=list(events or EVENT_TYPES), **kwargs)


def test_nothing_is_written_when_nobody_listens(marketing):
    _listen("opportunity.created")
    import_leads(records=[{"email": "a@acme.example"}], match_on="email", by=marketing)
    assert WebhookEvent.objects.exists() is False
    assert WebhookDelivery.objects.exists() is False


def test_inactive_subscriptions_get_no_deliveries(marketing):
    _listen("lead.created", is_active=False)
    import_leads(records=[{"email": "a@acme.example"}], match_on="email", by=marketing)
    assert WebhookDelivery.objects.exists() is False


def test_each_listening_subscription_gets_one_delivery_per_event(marketing):
    first, second = _listen("lead.created"), _listen("lead.created", "lead.updated")
    _listen("lead.updated")
    import_leads(
        records=[{"email": "a@acme.example"}, {"email": "b@acme.example"}],
        match_on="email",
        by=marketing,
    )
    assert len(_events("lead.created")) == 2
    pairs = set(WebhookDelivery.objects.values_list("subscription_id", "event__record_id"))
    ids = [str(pk) for pk in Lead.objects.order_by("pk").values_list("pk", flat=True)]
    assert pairs == {(s.pk, i) for s in (first, second) for i in ids}


def test_a_rolled_back_change_leaves_no_event(marketing):
    _listen("lead.updated")
    lead = LeadFactory()

    def change_then_fail():
        with transaction.atomic():
            update_lead(lead=lead, by=marketing, data={"company": "Rolled back"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert WebhookEvent.objects.exists() is False


def test_lead_services_write_their_events_with_what_changed(marketing, rep, admin_user):
    _listen()
    lead = LeadFactory(company="Old Co")
    update_lead(lead=lead, by=marketing, data={"company": "New Co"})
    assign_leads(lead_ids=[lead.pk], owner=rep, by=admin_user)
    transition_lead(lead=lead, to=Lead.Lifecycle.MQL, by=marketing)
    record_bant(lead=lead, by=rep, answers={"budget_confirmed": True})
    got = [(e.type, e.data["previous"]) for e in _events()]
    assert got == [
        ("lead.updated", {"company": "Old Co"}),
        ("lead.assigned", {"owner": None}),
        ("lead.stage_changed", {"stage": "new"}),
        ("lead.updated", {"budget_confirmed": None}),
    ]
    last = _events()[-1].data["object"]
    assert (last["object"], last["id"], last["owner"], last["stage"]) == (
        "lead",
        lead.pk,
        rep.pk,
        "mql",
    )


def test_an_import_writes_created_and_updated_events_set_based(marketing):
    _listen("lead.created", "lead.updated")
    LeadFactory(email="known@acme.example", company="Before")
    import_leads(
        records=[
            {"email": "known@acme.example", "company": "After"},
            {"email": "new@acme.example"},
        ],
        match_on="email",
        by=marketing,
    )
    created, updated = _events("lead.created"), _events("lead.updated")
    assert [e.data["object"]["email"] for e in created] == ["new@acme.example"]
    assert [e.data["previous"] for e in updated] == [{"company": "Before"}]


def test_a_1000_lead_import_writes_its_events_in_a_constant_number_of_queries(
    marketing, is_postgres
):
    _listen("lead.created")
    import_leads(records=[{"email": "warm@up.example"}], match_on="email", by=marketing)
    counts = {}
    for size in (10, 1000):
        records = [{"email": f"lead{i}@size{size}.example"} for i in range(size)]
        with CaptureQueriesContext(connection) as queries:
            import_leads(records=records, match_on="email", by=marketing)
        outbox = [q["sql"] for q in queries.captured_queries if "webhooks_" in q["sql"]]
        counts[size] = (len(queries), len(outbox))
    assert len(_events("lead.created")) == 1 + 10 + 1000
    assert WebhookDelivery.objects.count() == 1 + 10 + 1000
    if is_postgres:
        # the subscribers' read, one INSERT of events, one of deliveries; the whole import
        # the same at 10 and 1,000 leads
        assert counts[10] == counts[1000]
        assert counts[1000][1] == 3
    else:
        assert counts[1000][1] <= 30  # bulk_create's batches of 999 parameters, never per row


def test_deal_services_write_created_updated_stage_changed_and_lost(rep, other_rep):
    _listen()
    pipeline = PipelineFactory()
    deal = pipeline_services.create_opportunity(by=rep, name="Deal", pipeline=pipeline)
    pipeline_services.update_opportunity(opportunity=deal, by=rep, next_step="Call back")
    lost = pipeline.stages.get(kind="lost")
    reason = LostReason.objects.create(label="Price")
    deal.refresh_from_db()
    pipeline_services.move_opportunity(
        opportunity=deal, to_stage=lost, expected_version=deal.version, by=rep, lost_reason=reason
    )
    types = [e.type for e in _events()]
    assert types == [
        "opportunity.created",
        "opportunity.updated",
        "opportunity.stage_changed",
        "opportunity.lost",
    ]
    lost_event = _events("opportunity.lost")[0].data
    assert lost_event["object"]["lost_reason"] == "Price"
    assert _events("opportunity.updated")[0].data["previous"] == {"next_step": ""}


def test_a_reorder_in_the_same_column_is_no_stage_change(rep):
    _listen("opportunity.stage_changed")
    deal = OpportunityFactory(owner=rep)
    pipeline_services.move_opportunity(
        opportunity=deal, to_stage=deal.stage, expected_version=deal.version, by=rep
    )
    assert WebhookEvent.objects.exists() is False


def test_logging_an_activity_writes_activity_created(rep):
    _listen("activity.created")
    lead = LeadFactory(owner=rep)
    activity = create_activity(by=rep, kind=Activity.Kind.CALL, subject="Intro call", lead=lead)
    (event,) = _events()
    assert event.data["object"]["subject"] == "Intro call"
    assert event.data["object"]["lead"] == lead.pk
    assert event.record_id == str(activity.pk)


def test_handing_over_a_departing_reps_work_writes_assigned_and_updated(rep, manager, admin_user):
    _listen("lead.assigned", "opportunity.updated")
    lead, deal = LeadFactory(owner=rep, stage="mql"), OpportunityFactory(owner=rep)
    reassign_open_work(by=admin_user, from_user=rep, to_user=manager)
    assert [(e.type, e.record_id, e.data["previous"]) for e in _events()] == [
        ("lead.assigned", str(lead.pk), {"owner": rep.pk}),
        ("opportunity.updated", str(deal.pk), {"owner": rep.pk}),
    ]


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError, match="Unknown webhook event"):
        record_events(event="lead.exploded", model=Lead, ids=[1])


def test_an_unregistered_model_is_named():
    _listen("lead.created")
    with pytest.raises(LookupError, match=r"crm\.User is not registered"):
        record_events(event="lead.created", model=User, ids=[1])
