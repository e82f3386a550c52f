from __future__ import annotations

import pytest

from crm.models import Team
from crm.services import move_team
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_team_paths_nest(org):
    assert org["team_a"].path.startswith(org["region"].path)
    assert org["region"].path.startswith(org["root"].path)
    assert org["team_a"].depth == 2


def test_subtree_of_a_team_is_one_query(org, django_assert_num_queries):
    with django_assert_num_queries(1):
        names = {t.name for t in Team.objects.descendants_of(org["region"])}
    assert names == {"Region", "Team A", "Team B"}


def test_subtree_of_a_manager_covers_every_team_they_manage_below(org, django_assert_num_queries):
    boss = UserFactory(role="manager")
    org["region"].manager = boss
    org["region"].save()
    with django_assert_num_queries(1):
        names = {t.name for t in Team.objects.subtree_of(boss)}
    assert names == {"Region", "Team A", "Team B"}


def test_a_managers_reps_in_one_query(org, manager, rep, other_rep, django_assert_num_queries):
    from crm.models import users_visible_to

    with django_assert_num_queries(1):
        usernames = {u.username for u in users_visible_to(manager)}
    assert usernames == {manager.username, rep.username}


def test_moving_a_team_moves_its_subtree(org):
    leaf = TeamFactory(name="Leaf", parent=org["team_a"])
    move_team(team=org["team_a"], new_parent=org["root"])
    leaf.refresh_from_db()
    org["team_a"].refresh_from_db()
    assert org["team_a"].path == f"{org['root'].path}{org['team_a'].pk:06d}."
    assert leaf.path.startswith(org["team_a"].path)
    assert leaf.depth == 2
    assert Team.objects.descendants_of(org["region"]).filter(name="Leaf").exists() is False


def test_a_team_cannot_move_under_its_own_subtree(org):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        move_team(team=org["region"], new_parent=org["team_a"])
