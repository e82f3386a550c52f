"""Notifications and e-mail obey the one visibility scope.

The endpoints (list, bell, mark-read) show and touch only the caller's own notifications. The
services that notify (routing, reminders, speed-to-lead, stale deals, lead transitions and
assignment, reassignment) run against an org where two teams are "managed" by users without
team scope (a rep, a marketer), and every notification and e-mail they produce is checked
with the attack matrix's generic rules: the recipient may see the record it targets, the
record its link opens, and every record whose marker text it carries.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Contact
from accounts.services import create_contact
from activities.services import create_activity
from crm.models import Notification, OrgSettings, OutboxMessage
from crm.outbox import send_due
from crm.services import mark_notifications_read, notify_many
from crm.services_users import reassign_open_work
from leads.models import Lead
from leads.services import assign_leads, transition_leads
from pipeline.models import Stage
from pipeline.services import create_opportunity
from tests.crm import attack_matrix as am
from tests.factories import (
    LeadFactory,
    NotificationFactory,
    OpportunityFactory,
    PipelineFactory,
    TeamFactory,
    UserFactory,
)
from tests.leads.routing_factories import AssignmentRuleFactory, MqlLeadFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- the endpoints -----------------------------------------------------------------------------


def test_the_notification_list_shows_only_my_own(client, rep, other_rep):
    NotificationFactory(recipient=rep, message="Yours: call Ada")
    NotificationFactory(recipient=other_rep, message="Not yours: call Bob")
    client.force_login(rep)
    for headers in ({}, {"HX-Request": "true"}):
        html = client.get(reverse("crm:notifications"), headers=headers).content.decode()
        assert "Yours: call Ada" in html
        assert "Not yours" not in html


def test_the_bell_counts_only_my_unread_notifications(client, rep, other_rep):
    NotificationFactory(recipient=rep)
    NotificationFactory.create_batch(3, recipient=other_rep)
    client.force_login(rep)
    html = client.get(reverse("crm:notification_bell")).content.decode()
    assert "Notifications: 1 unread" in html


def test_mark_read_given_someone_elses_ids_marks_only_mine(client, rep, other_rep):
    mine = NotificationFactory(recipient=rep)
    theirs = NotificationFactory(recipient=other_rep)
    client.force_login(rep)
    response = client.post(
        reverse("crm:mark_notifications_read"),
        {"ids": [theirs.pk], "pk": theirs.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Notifications: 0 unread" in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None
    assert theirs.read_at is None


def test_the_mark_read_service_ignores_foreign_ids(rep, other_rep):
    theirs = NotificationFactory(recipient=other_rep)
    assert mark_notifications_read(user=rep, ids=[theirs.pk]) == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None


# --- what the services send ----------------------------------------------------------------------


def _marker(tag: str) -> str:
    return f"zq{tag}zq"


@pytest.fixture
def scoped_org(org, rep, manager, marketing, admin_user):
    """Team A has a real manager; team C's "manager" is a rep and team D's a marketer, so
    neither has team scope (scope_q gives a subtree only to managers). Each rep owns an
    uncontacted lead, a deal in a rotting stage and a task, all carrying marker text."""
    OrgSettings.objects.update_or_create(
        pk=1,
        defaults={
            "first_contact_sla_minutes": 5,
            "sla_escalation_minutes": 60,
            "stale_escalate_after_days": 7,
        },
    )
    team_c = TeamFactory(name="Team C", parent=org["region"])
    team_d = TeamFactory(name="Team D", parent=org["region"])
    # team C's "manager" (not available: routing gives team C's leads to cara)
    carl = UserFactory(username="rep_carl", role="rep", team=team_c, is_available=False)
    cara = UserFactory(username="rep_cara", role="rep", team=team_c)
    dina = UserFactory(username="rep_dina", role="rep", team=team_d)
    team_c.manager = carl
    team_c.save()
    team_d.manager = marketing  # marketing sees every lead but no deal
    team_d.save()
    pipeline = PipelineFactory()
    Stage.objects.filter(pipeline=pipeline, name="Proposal").update(rot_after_days=10)
    proposal = Stage.objects.get(pipeline=pipeline, name="Proposal")
    markers = {}
    records = {}
    with time_machine.travel(T0, tick=False):
        for owner in (rep, cara, dina):
            tag = owner.username
            lead = LeadFactory(
                owner=owner,
                stage=Lead.Lifecycle.SRL,
                assigned_at=T0,
                first_name=_marker(f"lead-{tag}"),
                last_name="",
            )
            deal = create_opportunity(
                by=owner, name=_marker(f"deal-{tag}"), pipeline=pipeline, stage=proposal
            )
            task = create_activity(
                by=owner,
                kind="task",
                subject=_marker(f"task-{tag}"),
                lead=lead,
                due_at=T0 + timedelta(hours=1),
            )
            # A contact of theirs with a task on it: its reminder links to the contact page.
            contact = create_contact(by=owner, first_name=_marker(f"contact-{tag}"))
            contact_task = create_activity(
                by=owner,
                kind="task",
                subject=_marker(f"ctask-{tag}"),
                contact=contact,
                due_at=T0 + timedelta(hours=2),
            )
            markers[(Lead, lead.pk)] = [_marker(f"lead-{tag}")]
            markers[(type(deal), deal.pk)] = [_marker(f"deal-{tag}")]
            markers[(type(task), task.pk)] = [_marker(f"task-{tag}")]
            markers[(type(contact), contact.pk)] = [_marker(f"contact-{tag}")]
            markers[(type(contact_task), contact_task.pk)] = [_marker(f"ctask-{tag}")]
            records[tag] = {"lead": lead, "deal": deal, "task": task, "contact": contact}
        # Routing into team C (its reps get leads and a first-contact task).
        AssignmentRuleFactory(name="To C", target_team=team_c)
        routed = MqlLeadFactory(first_name=_marker("routed"), last_name="")
        markers[(Lead, routed.pk)] = [_marker("routed")]
    return {
        "markers": markers,
        "records": records,
        "carl": carl,
        "cara": cara,
        "dina": dina,
    }


def _run_every_beat_job(at: datetime, capture) -> None:
    """Every periodic job in the beat schedule, as the worker would run it at `at`."""
    with time_machine.travel(at, tick=False), capture(execute=True):
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values():
            module, _, name = str(entry["task"]).rpartition(".")
            getattr(importlib.import_module(module), name)()


def _verbs(user) -> list[str]:
    return sorted(Notification.objects.filter(recipient=user).values_list("verb", flat=True))


def test_every_notification_and_email_the_services_send_stays_in_the_recipients_scope(
    scoped_org,
    rep,
    manager,
    marketing,
    admin_user,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    # given an org with scope-less team "managers" (fixture)
    carl, cara, dina = scoped_org["carl"], scoped_org["cara"], scoped_org["dina"]
    records = scoped_org["records"]
    # when every beat job runs (routing, reminders, SLA, stale flag), then again later
    # (stale escalation), and people act (assign, transition, hand over work)
    _run_every_beat_job(T0 + timedelta(days=20), django_capture_on_commit_callbacks)
    _run_every_beat_job(T0 + timedelta(days=40), django_capture_on_commit_callbacks)
    links = am.LinkMap(admin_user)
    markers = scoped_org["markers"]
    with (
        time_machine.travel(T0 + timedelta(days=41), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        spare = LeadFactory(owner=None, first_name=_marker("spare"), last_name="")
        markers[(Lead, spare.pk)] = [_marker("spare")]
        assign_leads(lead_ids=[spare.pk], owner=rep, by=manager)
        transition_leads(
            lead_ids=[records["rep_alice"]["lead"].pk],
            to=Lead.Lifecycle.DISQUALIFIED,
            by=manager,
            reason="No budget",
        )
    # then nothing went to anyone who may not see it
    assert am.notification_leaks(links, markers) == []
    assert am.email_leaks(mailoutbox, links, markers) == []
    # (scope is judged now: hand-overs change it, so check what they send on its own)
    last = Notification.objects.order_by("pk").last().pk
    sent = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        reassign_open_work(by=admin_user, from_user=cara, to_user=carl)
    assert am.notification_leaks(links, markers, after=last) == []
    assert am.email_leaks(mailoutbox[sent:], links, markers) == []
    # and the ones who may see it did hear (the checks above are not vacuous)
    assert _verbs(manager) == ["deal_stale_escalated", "sla_escalated"]
    # a marketer "managing" team D is no sales manager: escalations go up the tree instead
    # (nobody able above team D here), never to them
    assert not {"sla_escalated", "deal_stale_escalated"} & set(_verbs(marketing))
    assert _verbs(carl) == ["reassigned"]  # nothing about cara's work while it was hers
    for owner in (rep, cara, dina):
        assert {"sla_breached", "deal_stale", "task_due"} <= set(_verbs(owner)), owner
        contact = records[owner.username]["contact"]
        reminder = Notification.objects.get(recipient=owner, url=f"/contacts/{contact.pk}/")
        assert reminder.verb == "task_due"
    assert Contact.objects.get(pk=records["rep_cara"]["contact"].pk).owner == carl  # handed over
    assert {"lead_assigned", "lead_disqualified"} <= set(_verbs(rep))
    routed = Notification.objects.get(verb="lead_assigned", recipient=cara)
    assert _marker("routed") in routed.message
    assert {rep.email, cara.email, dina.email, manager.email} <= {
        address for message in mailoutbox for address in message.to
    }


def test_the_checks_catch_a_planted_leak_in_target_link_and_text(scoped_org, admin_user):
    """The generic check is not vacuous: cara's lead named to carl is caught three ways."""
    lead = scoped_org["records"]["rep_cara"]["lead"]
    Notification.objects.create(
        recipient=scoped_org["carl"],
        verb="planted",
        message=f"Look at {lead}",
        url=f"/leads/{lead.pk}/",
        target=lead,
    )
    leaks = am.notification_leaks(am.LinkMap(admin_user), scoped_org["markers"])
    assert len(leaks) == 3, leaks
    assert all("rep_carl" in leak and f"Lead #{lead.pk}" in leak for leak in leaks)


def test_a_notification_is_not_sent_to_someone_who_may_not_see_its_target(
    rep, other_rep, manager, marketing, mailoutbox, django_capture_on_commit_callbacks
):
    # given other_rep's deal and lead, told to everyone
    deal = OpportunityFactory(owner=other_rep, name="Bob's deal")
    lead = LeadFactory(owner=other_rep)
    rows = [
        Notification(recipient=user, verb="test", message=f"About {target}", target=target)
        for user in (rep, manager, marketing, other_rep)
        for target in (deal, lead)
    ]
    # when
    with django_capture_on_commit_callbacks(execute=True):
        created = notify_many(rows)
    # then only the owner (both) and marketing (leads only) get them; manager runs team A
    kept = {(n.recipient.username, type(n.target).__name__) for n in created}
    assert kept == {
        ("rep_bob", "Opportunity"),
        ("rep_bob", "Lead"),
        ("marketing_erin", "Lead"),
    }
    assert Notification.objects.count() == 3
    assert sorted(m.to[0] for m in mailoutbox) == [
        marketing.email,
        other_rep.email,
        other_rep.email,
    ]


@pytest.mark.parametrize("recipients", [3, 60])
def test_the_scope_check_costs_the_same_few_queries_for_any_number_of_recipients(
    org, recipients, django_assert_max_num_queries
):
    users = [UserFactory(role="rep", team=org["team_a"]) for _ in range(recipients)]
    boss = UserFactory(role="manager", team=org["team_a"])
    org["team_a"].manager = boss
    org["team_a"].save()
    deals = [OpportunityFactory(owner=user) for user in users]
    leads = [LeadFactory(owner=user) for user in users]
    rows = [
        Notification(recipient=recipient, verb="test", message="x", target=target)
        for target in [*deals, *leads]
        for recipient in (target.owner, boss)
    ]
    # recipients + one UNION per target model + INSERT, then the e-mails (every recipient
    # wants each at once): the outbox INSERT, the install id, the Message-IDs' UPDATE. No
    # per-row query; SQLite splits the INSERTs by its 999-parameter limit (240 notifications:
    # 3 + 5 statements), PostgreSQL does not.
    with django_assert_max_num_queries(18):
        created = notify_many(rows)
    assert len(created) == len(rows)  # all in scope: the owners and their team's manager
    assert OutboxMessage.objects.count() == len(rows)


# --- records that changed hands after the notification was written ----------------------------


def _told_about_my_lead_then_it_moved(rep, other_rep, count=1):
    """`count` notifications to rep about rep's own leads; the first lead is then handed to
    other_rep (another team), as a reassignment or hand-over would."""
    leads = [LeadFactory(owner=rep, first_name=f"Ada{n}", last_name="Quartz") for n in range(count)]
    for lead in leads:
        Notification.objects.create(
            recipient=rep,
            verb="lead_assigned",
            message=f"New lead: {lead.first_name} Quartz",
            url=reverse("leads:detail", args=[lead.pk]),
            target=lead,
        )
    Lead.objects.filter(pk=leads[0].pk).update(owner=other_rep)
    return leads


@pytest.mark.parametrize("count", [1, 30])
def test_a_notification_about_a_record_that_changed_hands_no_longer_names_it(
    client, rep, other_rep, count, django_assert_max_num_queries
):
    # given
    leads = _told_about_my_lead_then_it_moved(rep, other_rep, count)
    client.force_login(rep)
    for headers in ({}, {"HX-Request": "true"}):
        # when: session, user, the list, one scope check for leads (+ the bell's count)
        with django_assert_max_num_queries(6):
            response = client.get(reverse("crm:notifications"), headers=headers)
        # then
        html = response.content.decode()
        assert "Ada0 Quartz" not in html
        assert reverse("leads:detail", args=[leads[0].pk]) not in html
        assert "no longer visible to you" in html
        for lead in leads[1:]:  # the ones still mine keep their text and link
            assert f"{lead.first_name} Quartz" in html
            assert reverse("leads:detail", args=[lead.pk]) in html
    # the stored row is untouched: it reads as before if the lead comes back
    assert Notification.objects.filter(message="New lead: Ada0 Quartz").count() == 1


def test_an_email_is_not_sent_for_a_record_that_changed_hands_before_sending(
    rep, other_rep, mailoutbox
):
    # given two notifications, e-mailed through the outbox; the first lead changes hands
    # before a worker sends (the relay was down, say)
    leads = [LeadFactory(owner=rep, first_name=f"Ada{n}", last_name="Quartz") for n in range(2)]
    notify_many(
        [
            Notification(
                recipient=rep,
                verb="lead_assigned",
                message=f"New lead: {lead.first_name} Quartz",
                url=reverse("leads:detail", args=[lead.pk]),
                target=lead,
            )
            for lead in leads
        ]
    )
    Lead.objects.filter(pk=leads[0].pk).update(owner=other_rep)
    # when
    report = send_due(now=timezone.now())
    # then only the one still in scope goes out, and neither is tried again
    assert (report.claimed, report.sent, report.cancelled) == (2, 1, 1)
    assert [m.subject for m in mailoutbox] == ["[Plumb] New lead: Ada1 Quartz"]
    cancelled = OutboxMessage.objects.get(status=OutboxMessage.Status.CANCELLED)
    assert "may no longer see" in cancelled.response
    assert send_due(now=timezone.now() + timedelta(days=1)).claimed == 0
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0
