"""Password rules (12+ characters, not common, not like the user) and the reset link: by
e-mail, single-use, expiring; it ends the user's other sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.services_users import create_user
from tests.signin.helpers import password_step

pytestmark = pytest.mark.django_db
NEW = "a sturdy new passphrase"


def _reset_link(client, user, mailoutbox, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("signin:password_reset"), {"email": user.email.upper()})
    assert response["Location"] == reverse("signin:password_reset_sent")
    (message,) = mailoutbox
    assert message.to == [user.email]
    return re.search(r"https?://\S+(/login/reset/\S+)", message.body).group(1)


def test_a_reset_link_sets_a_new_password_once(
    client, rep, mailoutbox, django_capture_on_commit_callbacks
):
    elsewhere = Client()
    elsewhere.force_login(rep)
    link = _reset_link(client, rep, mailoutbox, django_capture_on_commit_callbacks)
    form = client.get(link, follow=True)
    assert form.context["validlink"]
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == reverse("login")
    assert password_step(Client(), rep.username, NEW).status_code == 302
    assert elsewhere.get("/").status_code == 302  # the other session ended
    again = Client().get(link, follow=True)
    assert not again.context["validlink"]
    assert "invalid, expired or was already used" in again.content.decode()


def test_a_reset_link_expires(client, rep, mailoutbox, django_capture_on_commit_callbacks):
    link = _reset_link(client, rep, mailoutbox, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert not Client().get(link, follow=True).context["validlink"]


def test_a_reset_refuses_a_weak_password(
    client, rep, mailoutbox, django_capture_on_commit_callbacks
):
    link = _reset_link(client, rep, mailoutbox, django_capture_on_commit_callbacks)
    form = client.get(link, follow=True)
    weak = client.post(
        form.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "short"}
    )
    assert weak.status_code == 200
    assert "at least 12 characters" in weak.content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, mailoutbox, db):
    response = client.post(reverse("signin:password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("signin:password_reset_sent")
    assert mailoutbox == []


def test_the_invite_page_enforces_the_rules(client, admin_user, mailoutbox):
    created = create_user(by=admin_user, username="newbie", email="newbie@example.com", role="rep")
    page = client.get(created.invite_url.replace("http://localhost:8000", ""), follow=True)
    url = page.redirect_chain[-1][0]
    weak = client.post(url, {"new_password1": "password", "new_password2": "password"})
    assert "at least 12 characters" in weak.content.decode()
    assert "too common" in weak.content.decode()
