from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import Team, User

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_org_and_is_idempotent():
    call_command("seed_demo", "--password", "s3cret", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    assert Team.objects.count() == 7
    assert Team.objects.filter(parent__isnull=True).count() == 1
    assert set(User.objects.values_list("role", flat=True).distinct()) == {
        "admin",
        "manager",
        "rep",
        "marketing",
    }
    assert User.objects.filter(role="rep").count() == 12
    assert User.objects.get(username="rep7").check_password("s3cret")
    manager1 = User.objects.get(username="manager1")
    assert User.objects.get(username="rep1").team in Team.objects.subtree_of(manager1)


def test_seed_demo_if_empty_does_nothing_when_users_exist(rep):
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "not reseeding" in out.getvalue()
    assert User.objects.count() == 1
