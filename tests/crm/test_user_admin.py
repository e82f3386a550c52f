from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm.models import ApiToken, AuditLog, Team, User
from leads.models import Lead
from pipeline.models import Opportunity
from tests.factories import LeadFactory, OpportunityFactory, UserFactory, make_token

pytestmark = pytest.mark.django_db


def test_admin_creates_a_user_with_a_password_who_can_then_log_in(client, admin_user, org):
    client.force_login(admin_user)
    response = client.post(
        reverse("settings:user_new"),
        {
            "username": "newrep",
            "email": "newrep@example.com",
            "role": "rep",
            "team": org["team_a"].pk,
            "is_available": "on",
            "max_open_leads": 40,
            "password": "a-Long-enough-pass-42",
        },
    )
    user = User.objects.get(username="newrep")
    assert response.status_code == 302
    assert (user.role, user.team, user.max_open_leads) == ("rep", org["team_a"], 40)
    entry = AuditLog.objects.get(action="user.create")
    assert (entry.actor, entry.target_id, entry.changes["role"]) == (
        admin_user,
        str(user.pk),
        [None, "rep"],
    )
    client.logout()
    login = client.post(
        reverse("login"), {"username": "newrep", "password": "a-Long-enough-pass-42"}
    )
    assert login.status_code == 302


def test_admin_invites_a_user_who_sets_a_password_through_the_emailed_link(
    client, admin_user, org, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("settings:user_new"),
            {
                "username": "invitee",
                "email": "invitee@example.com",
                "role": "marketing",
                "max_open_leads": 500,
            },
        )
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+(/settings/invite/\S+/)", mail.outbox[0].body).group(1)
    assert User.objects.get(username="invitee").has_usable_password() is False
    client.logout()
    form = client.get(link, follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0] if form.redirect_chain else link
    done = client.post(
        set_url, {"new_password1": "Sunny-Meadow-77", "new_password2": "Sunny-Meadow-77"}
    )
    assert done.status_code == 302
    assert User.objects.get(username="invitee").check_password("Sunny-Meadow-77")
    reused = client.get(link, follow=True)
    assert 'id="invalid-invite"' in reused.content.decode()


def test_creating_a_user_with_a_taken_username_or_weak_password_says_why(client, admin_user, rep):
    client.force_login(admin_user)
    taken = client.post(
        reverse("settings:user_new"),
        {"username": rep.username.upper(), "role": "rep", "max_open_leads": 5, "password": "x"},
    )
    assert taken.status_code == 422
    assert "That username is taken." in taken.content.decode()
    weak = client.post(
        reverse("settings:user_new"),
        {"username": "weakling", "role": "rep", "max_open_leads": 5, "password": "123"},
    )
    assert weak.status_code == 422
    assert "too short" in weak.content.decode()
    assert User.objects.filter(username="weakling").exists() is False


def test_admin_edits_role_team_availability_and_cap_and_the_change_is_audited(
    client, admin_user, rep, org
):
    client.force_login(admin_user)
    response = client.post(
        reverse("settings:user_edit", args=[rep.pk]),
        {
            "email": rep.email,
            "first_name": rep.first_name,
            "last_name": rep.last_name,
            "role": "manager",
            "team": org["team_b"].pk,
            "max_open_leads": 12,
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.role, rep.team, rep.is_available, rep.max_open_leads) == (
        "manager",
        org["team_b"],
        False,
        12,
    )
    changes = AuditLog.objects.get(action="user.update").changes
    assert changes["role"] == ["rep", "manager"]
    assert changes["team"] == [org["team_a"].pk, org["team_b"].pk]


def test_an_admin_cannot_remove_their_own_admin_role(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("settings:user_edit", args=[admin_user.pk]),
        {"role": "rep", "max_open_leads": 5},
    )
    assert response.status_code == 422
    admin_user.refresh_from_db()
    assert admin_user.role == "admin"


def test_reps_and_marketing_cannot_reach_user_administration(client, rep, marketing, other_rep):
    for user in (rep, marketing):
        client.force_login(user)
        assert client.get(reverse("settings:users")).status_code == 403
        assert client.get(reverse("settings:user_edit", args=[other_rep.pk])).status_code == 403
        assert (
            client.post(reverse("settings:user_deactivate", args=[other_rep.pk])).status_code == 403
        )
    other_rep.refresh_from_db()
    assert other_rep.is_active is True


def test_a_manager_lists_only_the_reps_of_their_subtree_and_404s_on_others(
    client, manager, rep, other_rep
):
    client.force_login(manager)
    page = client.get(reverse("settings:users")).content.decode()
    assert rep.username in page
    assert other_rep.username not in page
    assert client.get(reverse("settings:user_edit", args=[other_rep.pk])).status_code == 404


def test_deactivated_user_cannot_log_in_and_their_tokens_stop_working(client, admin_user, rep):
    token = make_token(rep, ["read:all"])
    client.force_login(admin_user)
    response = client.post(reverse("settings:user_deactivate", args=[rep.pk]), follow=True)
    assert "is deactivated" in response.content.decode()
    rep.refresh_from_db()
    assert (rep.is_active, rep.is_available) == (False, False)
    assert ApiToken.objects.get().revoked_at is not None
    client.logout()
    assert (
        client.get("/api/v1/me/", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    login = client.post(reverse("login"), {"username": rep.username, "password": "pw"})
    assert login.status_code == 200  # the form again, not a redirect into the app
    assert AuditLog.objects.filter(action="user.deactivate", target_id=str(rep.pk)).exists()


def test_a_logged_in_user_is_logged_out_at_their_next_request_once_deactivated(client, rep):
    client.force_login(rep)
    User.objects.filter(pk=rep.pk).update(is_active=False)
    response = client.get(reverse("crm:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_admin_cannot_deactivate_themselves(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("settings:user_deactivate", args=[admin_user.pk]), follow=True)
    assert "You cannot deactivate yourself." in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active is True


def test_the_user_page_lists_open_work_for_reassignment(client, admin_user, rep):
    LeadFactory.create_batch(2, owner=rep)
    LeadFactory(owner=rep, stage=Lead.Lifecycle.CONVERTED)
    OpportunityFactory(owner=rep, name="Big renewal")
    client.force_login(admin_user)
    page = client.get(reverse("settings:user_edit", args=[rep.pk])).content.decode()
    assert "Open work: 2 leads, 1 deal" in page
    assert "Big renewal" in page


def _team_with_reps(org, count):
    return [UserFactory(username=f"peer{i}", role="rep", team=org["team_a"]) for i in range(count)]


@pytest.mark.parametrize("size", [6, 30])
def test_round_robin_shares_open_work_evenly_over_the_team_in_bounded_queries(
    client, admin_user, rep, org, size, django_assert_max_num_queries
):
    peers = _team_with_reps(org, 3)
    UserFactory(username="gone", role="rep", team=org["team_a"], is_active=False)
    LeadFactory.create_batch(size, owner=rep)
    closed = LeadFactory(owner=rep, stage=Lead.Lifecycle.DISQUALIFIED)
    OpportunityFactory.create_batch(3, owner=rep)
    client.force_login(admin_user)
    # 30 + the webhook outbox's subscriber read per receiving rep and kind of record, + the
    # notifications' e-mails (outbox INSERT, the install id, the Message-IDs' UPDATE)
    with django_assert_max_num_queries(39):
        response = client.post(reverse("settings:user_reassign", args=[rep.pk]), {"to_user": ""})
    assert response.status_code == 302
    counts = sorted(Lead.objects.filter(owner__in=peers).values_list("owner", flat=True))
    per_peer = [counts.count(p.pk) for p in peers]
    assert sum(per_peer) == size
    assert max(per_peer) - min(per_peer) <= 1
    assert Opportunity.objects.filter(owner__in=peers).count() == 3
    closed.refresh_from_db()
    assert closed.owner == rep  # closed leads stay with their owner
    entries = AuditLog.objects.filter(action="lead.reassign")
    assert entries.count() == size
    assert {e.actor_id for e in entries} == {admin_user.pk}


def test_reassigning_everything_to_one_user(client, admin_user, rep, other_rep):
    LeadFactory.create_batch(3, owner=rep)
    OpportunityFactory(owner=rep)
    client.force_login(admin_user)
    client.post(reverse("settings:user_reassign", args=[rep.pk]), {"to_user": other_rep.pk})
    assert Lead.objects.filter(owner=other_rep).count() == 3
    assert Opportunity.objects.get().owner == other_rep
    assert other_rep.notifications.get().verb == "reassigned"


def test_open_tasks_on_handed_over_records_go_to_the_new_owner(client, admin_user, rep, other_rep):
    from activities.models import Activity

    lead = LeadFactory(owner=rep)
    deal = OpportunityFactory(owner=rep)
    due = timezone.now() + timedelta(days=1)
    open_on_lead = Activity.objects.create(
        kind="task", subject="Call back", owner=rep, lead=lead, due_at=due
    )
    open_on_deal = Activity.objects.create(
        kind="task", subject="Send quote", owner=rep, opportunity=deal, due_at=due
    )
    done = Activity.objects.create(
        kind="task", subject="Intro", owner=rep, lead=lead, due_at=due, done_at=timezone.now()
    )
    client.force_login(admin_user)
    client.post(reverse("settings:user_reassign", args=[rep.pk]), {"to_user": other_rep.pk})
    owners = dict(Activity.objects.values_list("subject", "owner"))
    assert owners == {"Call back": other_rep.pk, "Send quote": other_rep.pk, "Intro": rep.pk}
    assert {open_on_lead.pk, open_on_deal.pk, done.pk} == set(
        Activity.objects.values_list("pk", flat=True)
    )


def test_round_robin_without_team_mates_explains_instead_of_moving_anything(
    client, admin_user, other_rep
):
    LeadFactory(owner=other_rep)
    client.force_login(admin_user)
    response = client.post(reverse("settings:user_reassign", args=[other_rep.pk]), {"to_user": ""})
    assert response.status_code == 422
    assert "Nobody else is active on this team" in response.content.decode()
    assert Lead.objects.get().owner == other_rep


def test_a_manager_creates_a_sub_team_and_moves_a_rep_into_it(client, manager, rep, org):
    client.force_login(manager)
    response = client.post(
        reverse("settings:teams"), {"name": "Team A / Inbound", "parent": org["team_a"].pk}
    )
    assert response.status_code == 302
    inbound = Team.objects.get(name="Team A / Inbound")
    assert inbound.path.startswith(org["team_a"].path)
    moved = client.post(reverse("settings:user_move", args=[rep.pk]), {"team": inbound.pk})
    assert moved.status_code == 302
    rep.refresh_from_db()
    assert rep.team == inbound
    assert set(AuditLog.objects.values_list("action", flat=True)) == {"team.create", "user.move"}


def test_a_manager_cannot_create_teams_outside_their_subtree(client, manager, org):
    client.force_login(manager)
    response = client.post(reverse("settings:teams"), {"name": "Rogue", "parent": org["team_b"].pk})
    assert response.status_code == 422
    assert Team.objects.filter(name="Rogue").exists() is False
    assert client.get(reverse("settings:team_edit", args=[org["team_b"].pk])).status_code == 404


def test_a_manager_moves_a_sub_team_within_their_subtree_but_not_their_top_team(
    client, manager, org
):
    left = Team.objects.create(name="Left", parent=org["team_a"])
    right = Team.objects.create(name="Right", parent=org["team_a"])
    client.force_login(manager)
    ok = client.post(
        reverse("settings:team_edit", args=[right.pk]),
        {"name": "Right", "parent": left.pk, "manager": ""},
    )
    assert ok.status_code == 302
    right.refresh_from_db()
    assert right.parent == left
    top = client.post(
        reverse("settings:team_edit", args=[org["team_a"].pk]),
        {"name": "Team A", "parent": left.pk, "manager": manager.pk},
    )
    assert top.status_code == 422
    org["team_a"].refresh_from_db()
    assert org["team_a"].parent == org["region"]


def test_teams_page_queries_stay_flat(client, admin_user, org, django_assert_max_num_queries):
    client.force_login(admin_user)
    for size in (2, 12):
        for i in range(size):
            team = Team.objects.create(name=f"T{size}-{i}", parent=org["region"])
            UserFactory(username=f"m{size}-{i}", team=team)
        with django_assert_max_num_queries(12):
            assert client.get(reverse("settings:teams")).status_code == 200


def test_users_page_queries_stay_flat(client, admin_user, org, django_assert_max_num_queries):
    client.force_login(admin_user)
    for size in (3, 40):
        UserFactory.create_batch(size, team=org["team_a"])
        with django_assert_max_num_queries(8):
            assert client.get(reverse("settings:users")).status_code == 200


def test_everyone_edits_their_own_profile_and_time_zone(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("settings:profile"),
        {
            "first_name": "Alice",
            "last_name": "Smith",
            "email": "alice@example.com",
            "time_zone": "Europe/Berlin",
            "email_delivery": "digest",
            "digest_hour": 7,
            "remind_before_minutes": 30,
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.time_zone, rep.email_delivery, rep.digest_hour, rep.remind_before_minutes) == (
        "Europe/Berlin",
        "digest",
        7,
        30,
    )
    assert AuditLog.objects.get(action="user.profile").actor == rep


def test_an_unknown_time_zone_is_refused(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("settings:profile"), {"time_zone": "Mars/Olympus", "remind_before_minutes": 5}
    )
    assert response.status_code == 422
    rep.refresh_from_db()
    assert rep.time_zone == ""


def test_a_user_changes_their_password_and_stays_logged_in(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("settings:password"),
        {
            "old_password": "pw",
            "new_password1": "Quiet-Harbor-31",
            "new_password2": "Quiet-Harbor-31",
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password("Quiet-Harbor-31")
    assert client.get(reverse("settings:profile")).status_code == 200
    wrong = client.post(
        reverse("settings:password"),
        {"old_password": "nope", "new_password1": "x-Y-z-12345", "new_password2": "x-Y-z-12345"},
    )
    assert wrong.status_code == 422


def test_settings_index_links_the_security_pages_by_role(client, admin_user, rep):
    client.force_login(admin_user)
    page = client.get(reverse("crm:settings")).content.decode()
    for name in ("users", "teams", "audit", "profile"):
        assert reverse(f"settings:{name}") in page
    client.force_login(rep)
    page = client.get(reverse("crm:settings")).content.decode()
    assert reverse("settings:profile") in page
    assert reverse("settings:users") not in page


def test_a_manager_reassigns_a_reps_open_work_to_themselves_but_not_to_another_team(
    client, manager, rep, other_rep
):
    LeadFactory.create_batch(2, owner=rep)
    client.force_login(manager)
    refused = client.post(
        reverse("settings:user_reassign", args=[rep.pk]), {"to_user": other_rep.pk}
    )
    assert refused.status_code == 422
    assert Lead.objects.filter(owner=rep).count() == 2
    done = client.post(reverse("settings:user_reassign", args=[rep.pk]), {"to_user": manager.pk})
    assert done.status_code == 302
    assert Lead.objects.filter(owner=manager).count() == 2


def test_a_manager_cannot_deactivate_or_edit_accounts(client, manager, rep):
    client.force_login(manager)
    assert client.post(reverse("settings:user_deactivate", args=[rep.pk])).status_code == 403
    response = client.post(
        reverse("settings:user_edit", args=[rep.pk]), {"role": "admin", "max_open_leads": 1}
    )
    assert response.status_code == 403
    rep.refresh_from_db()
    assert (rep.is_active, rep.role) == (True, "rep")
