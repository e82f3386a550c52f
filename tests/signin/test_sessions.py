"""Settings → Sessions: where you are signed in; sign out one or everywhere else; password and
two-factor changes end the other sessions; idle timeout and absolute lifetime."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from signin import devices
from signin.models import DeviceSession, SecurityPolicy
from signin.policy import refresh
from tests.signin.helpers import enrol, password_step

pytestmark = pytest.mark.django_db
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _browser(user, agent, ip):
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert password_step(client, user.username, ip=ip).status_code == 302
    return client


def test_the_session_list_shows_device_ip_and_marks_this_one(rep):
    laptop = _browser(rep, FIREFOX, "10.0.0.5")
    _browser(rep, SAFARI, "10.0.0.6")
    page = laptop.get(reverse("signin:sessions"))
    rows = page.context["rows"]
    assert [(r.device, r.ip, r.is_current) for r in rows] == [
        ("Firefox on Windows", "10.0.0.5", True),
        ("Safari on iPhone", "10.0.0.6", False),
    ]
    assert "this session" in page.content.decode()


def test_signing_out_another_session_ends_it(rep):
    laptop = _browser(rep, FIREFOX, "10.0.0.5")
    phone = _browser(rep, SAFARI, "10.0.0.6")
    other = DeviceSession.objects.get(user=rep, user_agent=SAFARI)
    laptop.post(reverse("signin:end_session", args=[other.pk]))
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_nobody_ends_another_users_session(rep, other_rep):
    mine = _browser(rep, FIREFOX, "10.0.0.5")
    theirs = _browser(other_rep, SAFARI, "10.0.0.6")
    target = DeviceSession.objects.get(user=other_rep)
    assert mine.post(reverse("signin:end_session", args=[target.pk])).status_code == 404
    assert theirs.get("/").status_code == 200
    assert "Safari" not in mine.get(reverse("signin:sessions")).content.decode()


def test_sign_out_everywhere_else_keeps_this_session(rep):
    laptop = _browser(rep, FIREFOX, "10.0.0.5")
    phone = _browser(rep, SAFARI, "10.0.0.6")
    tablet = _browser(rep, SAFARI, "10.0.0.7")
    laptop.post(reverse("signin:end_other_sessions"))
    assert phone.get("/").status_code == 302
    assert tablet.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert DeviceSession.objects.filter(user=rep).count() == 1


def test_a_password_change_ends_the_other_sessions(rep):
    laptop = _browser(rep, FIREFOX, "10.0.0.5")
    phone = _browser(rep, SAFARI, "10.0.0.6")
    new = "correct horse battery staple"
    response = laptop.post(
        reverse("settings:password"),
        {"old_password": "pw", "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200
    assert phone.get("/").status_code == 302
    assert DeviceSession.objects.filter(user=rep).count() == 1


def test_turning_on_two_factor_ends_the_other_sessions(rep):
    laptop = _browser(rep, FIREFOX, "10.0.0.5")
    phone = _browser(rep, SAFARI, "10.0.0.6")
    enrol(laptop, rep)
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_an_idle_session_ends_with_a_message(rep):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        laptop = _browser(rep, FIREFOX, "10.0.0.5")
        clock.shift(11 * 3600)
        assert laptop.get("/").status_code == 200  # active again: the idle clock restarts
        clock.shift(11 * 3600)
        assert laptop.get("/").status_code == 200
        clock.shift(12 * 3600 + 60)
        response = laptop.get("/leads/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
        assert "period of inactivity" in laptop.get(response["Location"]).content.decode()
        assert "_auth_user_id" not in laptop.session


def test_a_session_ends_at_its_absolute_lifetime_however_active(rep):
    row = SecurityPolicy.objects.create(pk=1, absolute_lifetime_hours=24, idle_timeout_minutes=600)
    refresh(row)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        laptop = _browser(rep, FIREFOX, "10.0.0.5")
        for _ in range(4):
            clock.shift(5 * 3600)
            assert laptop.get("/").status_code == 200
        clock.shift(5 * 3600)
        response = laptop.get("/")
        assert response.status_code == 302
        assert "maximum length" in laptop.get(response["Location"]).content.decode()


def test_pages_note_activity_at_most_once_a_minute(rep):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        laptop = _browser(rep, FIREFOX, "10.0.0.5")
        before = DeviceSession.objects.get(user=rep).last_seen_at
        clock.shift(30)
        laptop.get("/")
        assert DeviceSession.objects.get(user=rep).last_seen_at == before
        clock.shift(60)
        laptop.get("/")
        assert DeviceSession.objects.get(user=rep).last_seen_at > before


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (FIREFOX, "Firefox on Windows"),
        (SAFARI, "Safari on iPhone"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on macOS",
        ),
        ("", "Unknown browser"),
    ],
)
def test_devices_are_described_from_the_user_agent(agent, device):
    assert devices.describe(agent) == device
