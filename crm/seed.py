"""The demo organisation: teams and users. Apps add their demo data in `<app>/seed.py`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from django.db import transaction

from crm.models import OrgSettings, Team, User

ORG_TREE = {
    "EMEA": ("manager1", ["EMEA North", "EMEA South"]),
    "Americas": ("manager2", ["Americas East", "Americas West"]),
}


@dataclass
class DemoOrg:
    """What app seeders get: users by username, teams by name, a seeded random generator."""

    password: str
    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(42))

    @property
    def reps(self) -> list[User]:
        return [u for u in self.users.values() if u.role == User.Role.REP]


def _user(org: DemoOrg, username: str, role: str, team: Team, first: str, last: str) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "role": role,
            "team": team,
            "first_name": first,
            "last_name": last,
            "email": f"{username}@plumb.example",
            "is_staff": role == User.Role.ADMIN,
            "is_superuser": role == User.Role.ADMIN,
        },
    )
    if created:
        user.set_password(org.password)
        user.save(update_fields=["password"])
    org.users[username] = user
    return user


def _team(org: DemoOrg, name: str, parent: Team | None) -> Team:
    team, _ = Team.objects.get_or_create(name=name, parent=parent)
    org.teams[name] = team
    return team


FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Eva",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kira",
    "Leo",
]
LAST = [
    "Adams",
    "Brooks",
    "Clark",
    "Diaz",
    "Evans",
    "Fox",
    "Garcia",
    "Hill",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
]


@transaction.atomic
def seed_org(*, password: str) -> DemoOrg:
    """1 org team → 2 regions → 4 sales teams; admin, 2 managers, 12 reps, marketing."""
    org = DemoOrg(password=password)
    OrgSettings.load()
    root = _team(org, "Plumb Inc", None)
    _user(org, "admin", User.Role.ADMIN, root, "Alex", "Admin")
    _user(org, "marketing", User.Role.MARKETING, root, "Mia", "Marketer")
    rep_no = 0
    for region_name, (manager_name, team_names) in ORG_TREE.items():
        region = _team(org, region_name, root)
        manager = _user(
            org,
            manager_name,
            User.Role.MANAGER,
            region,
            "Morgan" if manager_name == "manager1" else "Riley",
            region_name,
        )
        if region.manager_id != manager.pk:
            region.manager = manager
            region.save()
        for team_name in team_names:
            team = _team(org, team_name, region)
            for _ in range(3):
                rep_no += 1
                _user(org, f"rep{rep_no}", User.Role.REP, team, FIRST[rep_no - 1], LAST[rep_no - 1])
    return org
