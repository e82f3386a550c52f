"""The attack matrix's URLconf walk with an un-enrolled user under "two-factor for everyone":
every route (pages, htmx endpoints, the API through the session, Django admin) answers with
the way to enrolment or a refusal, never with content or a change; only the enrolment page,
logout and the public pages answer. Codes of another user's enrolment are never shown."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from signin.middleware import ENROLMENT_VIEWS
from signin.models import SecurityPolicy
from signin.policy import refresh
from tests.crm import attack_matrix as am
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_an_unenrolled_user_under_everyone_reaches_only_enrolment_and_logout(
    rep, other_rep, admin_user
):
    row = SecurityPolicy.objects.create(pk=1, two_factor_required="everyone")
    refresh(row)
    lead = LeadFactory(owner=rep, first_name="zqownleadzq")
    client = Client()
    client.force_login(rep)
    routes = am.walk_routes()
    am.map_models(routes, admin_user)
    checked, leaks = 0, []
    for route in routes:
        if route.is_public or route.name in ENROLMENT_VIEWS:
            continue
        kwargs = {k: v for k, v in am.NON_OBJECT_KWARGS.items() if k in route.kwargs}
        kwargs |= {k: lead.pk if route.model_for.get(k) else 1 for k in route.object_kwargs}
        try:
            url = reverse(route.name, kwargs=kwargs) if route.name else None
        except NoReverseMatch:
            url = None
        if url is None:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"ids": [lead.pk], "name": "pwned"})
            checked += 1
            status = response.status_code
            ok = (status == 302 and response["Location"] == reverse("signin:two_factor")) or (
                status == 403
            )
            if not ok or b"zqownleadzq" in response.content:
                leaks.append(f"{method.upper()} {url} → {status} {response.get('Location', '')}")
    assert leaks == []
    assert checked > 100
    lead.refresh_from_db()
    assert lead.first_name == "zqownleadzq"
    # The enrolment page itself answers, and shows this user's own new secret only.
    page = client.get(reverse("signin:two_factor"))
    assert page.status_code == 200
    assert page.context["enrolment"].uri.startswith(
        "otpauth://totp/Plumb%20CRM%3A" + rep.username
    ) or (rep.username in page.context["enrolment"].uri)
    assert client.get("/admin/")["Location"] == reverse("signin:two_factor")  # admin site too
    assert client.post(reverse("logout")).status_code == 302
