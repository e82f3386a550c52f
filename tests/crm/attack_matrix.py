"""The machinery of the attack matrix (tests/crm/test_attack_matrix.py).

Everything is discovered, nothing is listed by hand: routes come from walking the URLconf
(HTML pages and the DRF routers under /api/v1/), the model behind an object id comes from
the view's queryset (DRF) or the URL (kwarg name, or the path segment before it), objects
come from the factories every app keeps in tests/ (tests/factories.py, tests/<app>/factories.py),
and who may see an object comes from the model's own `visible_to(user)`. A new endpoint or a
new model is covered without editing the test.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import factory
from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import models
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from crm.models import ApiToken, AuditLog, Notification, Team, User, users_visible_to
from crm.services_users import teams_manageable_by, users_manageable_by

SKIP_PREFIXES = ("admin/", "static/", "media/", "__debug__/")  # Django admin: is_staff perms
SKIP_NAMES = {"logout"}  # would end the actor's session mid-run
# URL kwargs that are not object ids: a harmless value each (the route then acts as a list).
NON_OBJECT_KWARGS = {"uidb64": "MQ", "token": "set-password", "provider_id": "nope"}
ALIASES = {
    "deal": "opportunity",
    "card": "opportunity",
    "token": "apitoken",
    "task": "activity",
    "member": "user",
    "rep": "user",
    "people": "user",
    "rule": "scoringrule",
    "session": "devicesession",  # Settings → Sessions lists signin's scoped sessions
    "provider": "socialapp",  # Settings → Security → single sign-on providers
    "webhook": "webhooksubscription",  # Settings → Webhooks and /api/v1/webhooks/
    "delivery": "webhookdelivery",
    "email": "outboxmessage",  # Settings → E-mail: a message of the outbox
}
# The same word names another model in some namespaces (URL namespace, word) → model name.
NAMESPACE_ALIASES = {("routing", "rule"): "assignmentrule"}


def _alias(app_hint: str, word: str) -> str:
    return NAMESPACE_ALIASES.get((app_hint, word)) or ALIASES.get(word, word)


@dataclass
class Route:
    route: str  # the concatenated pattern text
    name: str | None  # namespaced URL name, e.g. "settings:user_edit"
    callback: Callable[..., Any]
    kwargs: list[str]  # URL kwargs the caller must fill (defaults excluded)
    is_api: bool
    model_for: dict[str, type[models.Model]] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.name.split(":")[0] if self.name and ":" in self.name else ""

    @property
    def is_public(self) -> bool:
        return getattr(self.callback, "login_required", True) is False

    @property
    def object_kwargs(self) -> list[str]:
        return [k for k in self.kwargs if k not in NON_OBJECT_KWARGS]

    def operation(self) -> str:
        text = f"{self.route} {self.name or ''}".lower()
        for word in ("export", "csv", "reassign", "assign", "move", "transition", "delete"):
            if word in text:
                return {"csv": "export", "assign": "reassign", "transition": "move"}.get(word, word)
        return "read/update"


def _kwarg_names(pattern: Any) -> list[str]:
    return list(pattern.regex.groupindex)


def walk_routes() -> list[Route]:
    """Every concrete URL pattern, with its full name and the kwargs it needs."""
    found: list[Route] = []

    def walk(patterns: list[Any], prefix: str, namespaces: list[str], kwargs: list[str]) -> None:
        for p in patterns:
            text = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                ns = [*namespaces, p.namespace] if p.namespace else namespaces
                walk(p.url_patterns, text, ns, kwargs + _kwarg_names(p.pattern))
            elif isinstance(p, URLPattern):
                clean = text.replace("^", "")
                if clean.startswith(SKIP_PREFIXES) or p.name in SKIP_NAMES:
                    continue
                names = kwargs + _kwarg_names(p.pattern)
                if "format" in names:
                    continue  # format-suffix twins of router routes
                needed = [k for k in names if k not in (p.default_args or {})]
                full = ":".join([*namespaces, p.name]) if p.name else None
                found.append(
                    Route(
                        route=clean,
                        name=full,
                        callback=p.callback,
                        kwargs=needed,
                        is_api=clean.startswith("api/v1/"),
                    )
                )

    walk(get_resolver().url_patterns, "", [], [])
    return found


# --- which model is behind an id ------------------------------------------------------------------


def _models_by_name() -> dict[str, list[type[models.Model]]]:
    index: dict[str, list[type[models.Model]]] = {}
    for model in apps.get_models():
        index.setdefault(model._meta.model_name, []).append(model)
    return index


def _singular(word: str) -> str:
    word = word.lower().replace("-", "").replace("_", "")
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _pick(candidates: list[type[models.Model]], app_hint: str) -> type[models.Model] | None:
    if not candidates:
        return None
    for model in candidates:
        if model._meta.app_label == app_hint:
            return model
    return candidates[0]


def _drf_model(route: Route, admin: User) -> type[models.Model] | None:
    cls = getattr(route.callback, "cls", None)
    if cls is None or not hasattr(cls, "get_queryset"):
        return None
    from rest_framework.request import Request

    try:
        view = cls(**getattr(route.callback, "initkwargs", {}))
        request = Request(RequestFactory().get("/"))
        request.user = admin
        view.request, view.args, view.kwargs, view.format_kwarg = request, (), {}, None
        actions = getattr(route.callback, "actions", None) or {}
        view.action = actions.get("get") or next(iter(actions.values()), None)
        return view.get_queryset().model
    except Exception:
        queryset = getattr(cls, "queryset", None)
        return queryset.model if queryset is not None else None


def _segment_before(route: str, kwarg: str) -> str:
    match = re.search(rf"(<(?:\w+:)?{kwarg}>|\(\?P<{kwarg}>)", route)
    if not match:
        return ""
    parts = [p for p in re.split(r"/", route[: match.start()]) if p and "<" not in p]
    return parts[-1] if parts else ""


def map_models(routes: list[Route], admin: User) -> None:
    """Fill `route.model_for` for each object kwarg, or list it in `route.unmapped`."""
    index = _models_by_name()
    for route in routes:
        app_hint = route.namespace or route.route.split("/")[0]
        drf_model = _drf_model(route, admin) if route.is_api else None
        for position, kwarg in enumerate(route.object_kwargs):
            model = None
            is_last = position == len(route.object_kwargs) - 1
            if drf_model is not None and is_last and kwarg in ("pk", "id"):
                model = drf_model
            view_class = getattr(route.callback, "view_class", None)
            if model is None and view_class is not None and is_last:
                model = getattr(view_class, "model", None)
            if model is None:
                stem = re.sub(r"_(pk|id)$", "", kwarg)
                if stem not in ("pk", "id"):
                    stem = _alias(app_hint, _singular(stem))
                    model = _pick(index.get(stem, []), app_hint)
            if model is None:
                segment = _singular(_segment_before(route.route, kwarg))
                model = _pick(index.get(_alias(app_hint, segment), []), app_hint)
            if model is None:
                route.unmapped.append(kwarg)
            else:
                route.model_for[kwarg] = model


# --- factories from every app's tests -----------------------------------------------------------


def discover_factories() -> dict[type[models.Model], type[factory.django.DjangoModelFactory]]:
    """model → factory, from tests/factories.py and every tests/<app>/factories.py."""
    import tests

    modules = ["tests.factories"]
    for info in pkgutil.iter_modules(tests.__path__):
        if info.ispkg:
            modules.append(f"tests.{info.name}.factories")
    found: dict[type[models.Model], type[factory.django.DjangoModelFactory]] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, factory.django.DjangoModelFactory)
                and value._meta.model is not None
                and not isinstance(value._meta.model, str)
            ):
                found.setdefault(value._meta.model, value)
    return found


OWNER_FIELDS = ("owner", "user", "recipient", "rep", "assignee")


def owner_field(model: type[models.Model]) -> str | None:
    for name in OWNER_FIELDS:
        try:
            f = model._meta.get_field(name)
        except Exception:
            continue
        if f.is_relation and f.related_model is User:
            return name
    return None


# --- who may see what ------------------------------------------------------------------------------


def visible_ids(model: type[models.Model], actor: User | None) -> set[Any] | None:
    """The pks of `model` that `actor` may see; None = every row (config tables)."""
    if actor is None or not actor.is_active:
        return set()
    manager = model._default_manager
    if hasattr(manager, "visible_to"):
        return set(manager.visible_to(actor).values_list("pk", flat=True))
    if model is User:
        seen = set(users_visible_to(actor).values_list("pk", flat=True))
        return seen | set(users_manageable_by(actor).values_list("pk", flat=True))
    if model is Team:
        ids = set(teams_manageable_by(actor).values_list("pk", flat=True))
        return ids | ({actor.team_id} if actor.team_id else set())
    if model is Notification:
        return set(Notification.objects.filter(recipient=actor).values_list("pk", flat=True))
    if model in (ApiToken, AuditLog):
        return None if actor.is_admin else set()
    return None  # configuration (pipelines, stages, rules…): readable by every user


def snapshot(objects: list[models.Model]) -> dict[tuple[str, Any], dict[str, Any] | None]:
    """The stored state of each object (None when deleted), to prove nothing changed."""
    state: dict[tuple[str, Any], dict[str, Any] | None] = {}
    by_model: dict[type[models.Model], list[Any]] = {}
    for obj in objects:
        by_model.setdefault(type(obj), []).append(obj.pk)
    for model, pks in by_model.items():
        rows = {row.pk: row for row in model._default_manager.filter(pk__in=pks)}
        for pk in pks:
            row = rows.get(pk)
            state[(model._meta.label, pk)] = (
                None if row is None else {k: repr(v) for k, v in model_to_dict(row).items()}
            )
    return state


def json_ids(payload: Any) -> Iterator[Any]:
    """The `id`s of the items of a list payload (DRF page, bare list)."""
    items = payload.get("results") if isinstance(payload, dict) else payload
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and "id" in item:
                yield item["id"]


# --- notifications and e-mail ---------------------------------------------------------------------


class LinkMap:
    """What record a link names: the URL is resolved against the same generated route map, so
    a notification linking to a new kind of page is checked without editing the tests."""

    def __init__(self, admin: User) -> None:
        routes = walk_routes()
        map_models(routes, admin)
        self.by_name = {r.name: r for r in routes if r.name and r.object_kwargs and not r.unmapped}

    def record(self, url: str) -> tuple[type[models.Model], Any] | None:
        """(model, pk) of the object page `url` opens; None for lists, pages and outside links."""
        path = urlsplit(url).path
        if not path.startswith("/"):
            return None
        try:
            match = resolve(path)
        except Resolver404:
            return None
        route = self.by_name.get(match.view_name)
        if route is None:
            return None
        last = route.object_kwargs[-1]
        return route.model_for[last], match.kwargs[last]


def _sees(user: User, model: type[models.Model], pk: Any) -> bool:
    ids = visible_ids(model, user)
    return ids is None or pk in ids


def _foreign_markers(
    user: User, text: str, markers: dict[tuple[type[models.Model], Any], list[str]]
) -> Iterator[str]:
    for (model, pk), texts in markers.items():
        if any(t in text for t in texts) and not _sees(user, model, pk):
            yield f"{model.__name__} #{pk}"


def notification_leaks(
    links: LinkMap, markers: dict[tuple[type[models.Model], Any], list[str]], *, after: int = 0
) -> list[str]:
    """Every stored notification must go to someone allowed to see what it names: its target,
    the record its link opens, and any record whose marker text is in its message. A
    deactivated recipient can read nothing, so their rows are judged as if they were active
    (the rule is about scope; e-mail to them is checked separately). Scope is judged now, so
    check right after the sends (`after`: only notifications with a greater pk)."""
    from django.contrib.contenttypes.models import ContentType

    found = []
    notes = Notification.objects.filter(pk__gt=after).select_related("recipient").order_by("pk")
    for note in notes:
        user = note.recipient
        was_active, user.is_active = user.is_active, True
        where = f"notification #{note.pk} {note.verb!r} to {user.username} ({user.role})"
        named: list[tuple[type[models.Model], Any]] = []
        if note.target_type_id and note.target_id:
            model = ContentType.objects.get_for_id(note.target_type_id).model_class()
            named.append((model, note.target_id))
        if note.url and (linked := links.record(note.url)):
            named.append(linked)
        found += [
            f"{where} targets/links to foreign {m.__name__} #{pk}"
            for m, pk in named
            if not _sees(user, m, pk)
        ]
        found += [
            f"{where} names foreign {name}: {note.message!r}"
            for name in _foreign_markers(user, note.message, markers)
        ]
        user.is_active = was_active
    return found


def email_leaks(
    outbox: Iterable[EmailMessage],
    links: LinkMap,
    markers: dict[tuple[type[models.Model], Any], list[str]],
) -> list[str]:
    """Every e-mail goes to an active user, and its subject, body and links name nothing that
    user may not see."""
    site = re.escape(settings.SITE_URL)
    found = []
    for message in outbox:
        text = f"{message.subject}\n{message.body}"
        for address in message.to:
            user = User.objects.filter(email__iexact=address).first()
            where = f"e-mail {message.subject!r} to {address}"
            if user is None or not user.is_active:
                found.append(f"{where}: not an active user")
                continue
            for path in re.findall(site + r"(/\S*)", text):
                linked = links.record(path)
                if linked and not _sees(user, *linked):
                    found.append(f"{where} links to foreign {linked[0].__name__} #{linked[1]}")
            found += [f"{where} names foreign {n}" for n in _foreign_markers(user, text, markers)]
    return found
