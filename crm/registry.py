"""What the features tell the core about themselves: the core iterates this, never names them.

The core (`crm`) imports no feature app, not even inside a function. Where it needs a
feature's knowledge — which records have a History tab and a page, what the dashboard shows,
whose work a departing user hands over, what the demo seeds — the feature registers it here
from its `AppConfig.ready()`, and the core reads the registry at run time:

    class WidgetsConfig(AppConfig):          # a feature app
        def ready(self) -> None:
            from crm import registry
            from widgets.models import Widget

            registry.register_record(Widget, history_kind="widgets", url_name="widgets:detail")

Registering is idempotent (keyed by model, kind or key), so a second `ready()` changes nothing.
Everything is read after start-up (requests, tasks, commands), when every app has registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q
from django.urls import reverse

if TYPE_CHECKING:
    from crm.models import User
    from crm.seed import DemoOrg

Scope = Callable[["User"], "models.QuerySet[Any]"]


# --- records: History tab and detail page ---------------------------------------------------


@dataclass(frozen=True)
class RecordKind:
    """A feature model whose rows users open. Its manager has `visible_to(user)` (the scope
    that the History tab, notifications and links respect); `url_name` reverses its page with
    the pk; `history_kind` is the word in /settings/history/<kind>/<pk>/."""

    model: type[models.Model]
    history_kind: str
    url_name: str = ""


_records: dict[type[models.Model], RecordKind] = {}
_history: dict[str, Scope] = {}


def register_record(model: type[models.Model], *, history_kind: str, url_name: str = "") -> None:
    """A scoped record with a History tab (and a page, when `url_name` is given)."""
    if not hasattr(model._default_manager, "visible_to"):
        raise TypeError(f"{model._meta.label} has no visible_to(user): it cannot be a record")
    _records[model] = RecordKind(model=model, history_kind=history_kind, url_name=url_name)
    _history[history_kind] = model._default_manager.visible_to


def register_history(kind: str, scope: Scope) -> None:
    """A History tab for rows that are not scoped by `visible_to` (users, teams): `scope(user)`
    returns the rows whose history `user` may read."""
    _history[kind] = scope


def history_scopes() -> dict[str, Scope]:
    """{history kind: who may read which rows' history}, in registration order."""
    return dict(_history)


def record_url(model: type[models.Model], pk: object) -> str:
    """The page of one record ("" when its kind has no page or is not registered)."""
    kind = _records.get(model)
    if kind is None or not kind.url_name:
        return ""
    return reverse(kind.url_name, args=[pk])


# --- the dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardPanel:
    """One card of the dashboard. `items(user=, now=, limit=)` is one query (a selector of the
    feature); `template` renders the card from `panel` and `items` (no queries)."""

    key: str
    order: int
    template: str
    items: Callable[..., Sequence[Any]]


_panels: dict[str, DashboardPanel] = {}


def register_dashboard_panel(panel: DashboardPanel) -> None:
    _panels[panel.key] = panel


def dashboard_panels() -> list[DashboardPanel]:
    """The dashboard's cards, left to right."""
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.key))


# --- hand-over of open work ----------------------------------------------------------------


@dataclass(frozen=True)
class HandOver:
    """Records of one kind that changed owner: `ids` went from `from_user` to `to_user_id`."""

    model: type[models.Model]
    ids: list[int]
    from_user: User
    to_user_id: int
    by: User
    now: datetime


@dataclass(frozen=True)
class OpenWorkKind:
    """Records a user owns and hands over when they leave (open leads, open deals).

    `open_records(user)` is that user's open records (a queryset the core locks in pk order);
    `related` is what the user page joins to show them; `describe(row)` is the short state
    shown beside each (query-free); `hand_over(handover)` writes the new owner and the audit
    entries in the caller's transaction, set-based. `noun` reads "2 leads", "1 open deal(s)".
    """

    key: str
    order: int
    noun: str
    model: type[models.Model]
    open_records: Callable[[User], models.QuerySet[Any]]
    describe: Callable[[Any], str]
    hand_over: Callable[[HandOver], None]
    related: tuple[str, ...] = ()


_open_work: dict[str, OpenWorkKind] = {}
_followers: dict[str, Callable[[HandOver], None]] = {}


def register_open_work(kind: OpenWorkKind) -> None:
    _open_work[kind.key] = kind


def open_work_kinds() -> list[OpenWorkKind]:
    """Every kind of open work, in the order it is locked and handed over."""
    return sorted(_open_work.values(), key=lambda kind: (kind.order, kind.key))


def register_hand_over_follower(key: str, follow: Callable[[HandOver], None]) -> None:
    """Something that goes along when records change hands (a user's open tasks on them):
    `follow(handover)` runs right after each kind's `hand_over`, in the same transaction."""
    _followers[key] = follow


def hand_over_followers() -> list[Callable[[HandOver], None]]:
    return list(_followers.values())


# --- demo data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSeeder:
    """One app's demo data: `run(org)` is idempotent and returns {what: how many}. `order`
    says what must exist first (routing rules need the org, deals need accounts and leads)."""

    label: str
    order: int
    run: Callable[[DemoOrg], dict[str, int]]


_seeders: dict[str, DemoSeeder] = {}


def register_demo_seeder(seeder: DemoSeeder) -> None:
    _seeders[seeder.label] = seeder


def demo_seeders() -> list[DemoSeeder]:
    return sorted(_seeders.values(), key=lambda seeder: (seeder.order, seeder.label))


# --- sign-in: settings pages and what follows a password change ------------------------------


@dataclass(frozen=True)
class SettingsLink:
    """A settings page of a feature: listed on the Settings index (`section="admin"` or
    "index") or as a tab beside My profile (`section="profile"`), for users `visible(user)`
    accepts (query-free: it runs on every settings page)."""

    key: str
    label: str
    url_name: str
    order: int
    section: str = "index"
    visible: Callable[[User], bool] = lambda user: True


_settings_links: dict[str, SettingsLink] = {}


def register_settings_link(link: SettingsLink) -> None:
    _settings_links[link.key] = link


def settings_links(user: User, *, section: str) -> list[SettingsLink]:
    """The links of one section that `user` may follow, in order."""
    links = [
        link for link in _settings_links.values() if link.section == section and link.visible(user)
    ]
    return sorted(links, key=lambda link: (link.order, link.key))


CredentialsFollower = Callable[[Any, "User"], None]
_credentials_followers: dict[str, CredentialsFollower] = {}


def register_credentials_follower(key: str, follow: CredentialsFollower) -> None:
    """Something that must happen after a user's password changed or was set:
    `follow(request, user)` runs after the change (e.g. end the user's other sessions)."""
    _credentials_followers[key] = follow


def credentials_followers() -> list[CredentialsFollower]:
    return list(_credentials_followers.values())


# --- the outbox: who may read which sent e-mails ----------------------------------------------

OutboxScope = Callable[["User"], Q]
_outbox_scopes: dict[str, OutboxScope] = {}


def register_outbox_scope(key: str, scope: OutboxScope) -> None:
    """Outbox rows a feature lets non-admins read: `scope(user)` is a Q over OutboxMessage
    (e.g. the e-mails sent from records in the user's scope). Admins read every row."""
    _outbox_scopes[key] = scope


def outbox_scopes() -> list[OutboxScope]:
    return list(_outbox_scopes.values())
