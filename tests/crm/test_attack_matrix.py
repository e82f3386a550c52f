"""The attack matrix: every actor × every endpoint × read / update / delete / move / reassign /
export, generated from the URLconf and the API routers (see attack_matrix.py).

Actors: rep A, rep B (another team), manager of A, manager of B, marketing, a deactivated
user (session and token), a revoked token, anonymous. For every object an actor may not see
(its model's own `visible_to` decides), every method on every route that takes its id must
answer without a 2xx and without changing the object; every list, search, board, export and
forecast payload must not carry a foreign record's marker text, amount or id. Every POST to a
list or bulk route (mark-read, bulk actions) leaves the actor's foreign records untouched, and
every notification and e-mail the run made the services send goes only to users who may see
what it names, links to or targets (attack_matrix.notification_leaks / email_leaks).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Account, Contact
from activities import emails
from activities.models import Activity, EmailMessage
from crm.models import ApiToken, Notification, OutboxMessage, User
from leads.models import Lead
from pipeline.models import ContactRole, Opportunity
from tests.crm import attack_matrix as am
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    ContactRoleFactory,
    LeadFactory,
    NotificationFactory,
    OpportunityFactory,
    UserFactory,
    make_token,
)

pytestmark = pytest.mark.django_db

OWN_ROUTE_PREFIXES = ("settings/",)  # crm routes this suite must map (it fails otherwise)
OWN_NAMESPACES = {"crm", "settings"}
ALL_SCOPES = [scope for scope, _ in ApiToken.Scope.choices]
HANDLED = {
    Lead,
    Opportunity,
    Account,
    Contact,
    ContactRole,
    Activity,
    Notification,
    ApiToken,
    User,
    EmailMessage,
    OutboxMessage,
}


class Actor:
    def __init__(self, name: str, user: User | None, *, bearer: str = "", live: bool = True):
        self.name, self.user, self.bearer, self.live = name, user, bearer, live
        self.client = Client()
        if user is not None:
            self.client.force_login(user)
        self._visible: dict[type[models.Model], set[Any] | None] = {}

    def sees(self, model: type[models.Model], pk: Any) -> bool:
        if not self.live:
            return False
        if model not in self._visible:
            self._visible[model] = am.visible_ids(model, self.user)
        ids = self._visible[model]
        return ids is None or pk in ids


def _marker(tag: str) -> str:
    return f"zq{tag}zq"


@pytest.fixture
def world(org, rep, other_rep, manager, other_manager, marketing, admin_user, settings):
    """Two reps' worth of records (plus an unassigned lead), each carrying marker text."""
    settings.API_AUTH_FAILURE_LIMIT = 0  # the revoked token knocks hundreds of times
    markers: dict[tuple[type[models.Model], Any], list[str]] = {}
    amounts = iter([Decimal("7130013.37"), Decimal("6120012.29")])
    for tag, owner in (("a", rep), ("b", other_rep)):
        lead = LeadFactory(owner=owner, first_name=_marker(f"lead{tag}"), stage=Lead.Lifecycle.MQL)
        account = AccountFactory(owner=owner, name=_marker(f"account{tag}"))
        amount = next(amounts)
        deal = OpportunityFactory(
            owner=owner, name=_marker(f"deal{tag}"), amount=amount, account=account, lead=lead
        )
        task = ActivityFactory(
            owner=owner,
            lead=lead,
            kind=Activity.Kind.TASK,
            subject=_marker(f"task{tag}"),
            due_at=timezone.now(),
        )
        contact = ContactFactory(
            owner=owner,
            account=account,
            first_name=_marker(f"contact{tag}"),
            email=f"{_marker(f'mail{tag}')}@people.example",
        )
        role = ContactRoleFactory(opportunity=deal, contact=contact, is_primary=True)
        call = ActivityFactory(
            owner=owner, lead=None, contact=contact, kind="call", subject=_marker(f"call{tag}")
        )
        note = NotificationFactory(
            recipient=owner, message=_marker(f"note{tag}"), url=f"/leads/{lead.pk}/", target=lead
        )
        token = ApiToken.objects.get(pk=_token_pk(owner, f"token{tag}"))
        # An e-mail sent from the lead: its outbox row is readable where the lead is.
        sent = emails.send_email(
            by=owner,
            record=lead,
            to=[f"customer-{tag}@example.com"],
            subject=_marker(f"email{tag}"),
            body=_marker(f"emailbody{tag}"),
        )
        markers[(OutboxMessage, sent.outbox_id)] = [
            _marker(f"email{tag}"),
            _marker(f"emailbody{tag}"),
        ]
        markers[(Lead, lead.pk)] = [_marker(f"lead{tag}")]
        markers[(Account, account.pk)] = [_marker(f"account{tag}")]
        whole = f"{int(amount):,}"
        markers[(Opportunity, deal.pk)] = [_marker(f"deal{tag}"), str(amount), whole]
        markers[(Activity, task.pk)] = [_marker(f"task{tag}")]
        markers[(Contact, contact.pk)] = [_marker(f"contact{tag}"), _marker(f"mail{tag}")]
        markers[(ContactRole, role.pk)] = []  # the deal's and contact's markers name it
        markers[(Activity, call.pk)] = [_marker(f"call{tag}")]
        markers[(Notification, note.pk)] = [_marker(f"note{tag}")]
        markers[(ApiToken, token.pk)] = [_marker(f"token{tag}")]
    orphan = LeadFactory(owner=None, first_name=_marker("leadnobody"), stage=Lead.Lifecycle.MQL)
    markers[(Lead, orphan.pk)] = [_marker("leadnobody")]
    built, failed = _build_other_models(rep, other_rep)
    return {"markers": markers, "extra_models": built, "factory_failures": failed}


def _token_pk(user: User, name: str) -> int:
    from crm.services import create_api_token

    token, _ = create_api_token(user=user, name=_marker(name), scopes=ALL_SCOPES)
    return token.pk


def _build_other_models(rep: User, other_rep: User) -> tuple[list[str], list[str]]:
    """One row per owner (or one row) of every other model some app has a factory for."""
    built, failed = [], []
    for model, model_factory in am.discover_factories().items():
        if model in HANDLED or model._default_manager.exists():
            continue
        field = am.owner_field(model)
        try:
            if field:
                for owner in (rep, other_rep):
                    model_factory(**{field: owner})
            else:
                model_factory()
            built.append(model._meta.label)
        except Exception as error:  # a factory that needs arguments we cannot guess
            failed.append(f"{model._meta.label}: {type(error).__name__}")
    return built, failed


@pytest.fixture
def actors(world, org, rep, other_rep, manager, other_manager, marketing):
    gone = UserFactory(username="rep_gone", role="rep", team=org["team_a"])
    gone_token = make_token(gone, ALL_SCOPES)
    revoked = make_token(rep, ALL_SCOPES)
    ApiToken.objects.filter(prefix=revoked.split("_")[1]).update(revoked_at=timezone.now())
    result = [
        Actor("rep A", rep),
        Actor("rep B (other team)", other_rep),
        Actor("manager of A", manager),
        Actor("manager of B", other_manager),
        Actor("marketing", marketing),
        Actor("deactivated", gone, bearer=gone_token, live=False),
        Actor("revoked token", None, bearer=revoked, live=False),
        Actor("anonymous", None, live=False),
    ]
    User.objects.filter(pk=gone.pk).update(is_active=False)  # after its session and token
    return result


def _url(route: am.Route, kwargs: dict[str, Any]) -> str | None:
    if route.name:
        try:
            return reverse(route.name, kwargs=kwargs)
        except NoReverseMatch:
            return None
    return None


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


class Matrix:
    """Sends the requests, counts them, and collects every finding."""

    def __init__(self) -> None:
        self.requests = 0
        self.failures: list[str] = []
        self.redirects: list[str] = []
        self.operations: Counter[str] = Counter()

    def send(self, actor: Actor, route: am.Route, url: str, method: str, data: Any) -> Any:
        headers = {"Authorization": f"Bearer {actor.bearer}"} if actor.bearer else {}
        self.requests += 1
        if method == "get":
            return actor.client.get(url, headers=headers)
        if route.is_api:
            return actor.client.generic(
                method.upper(),
                url,
                json.dumps(data),
                content_type="application/json",
                headers=headers,
            )
        if method == "post":
            return actor.client.post(url, data, headers=headers)
        return actor.client.generic(method.upper(), url, "", headers=headers)

    def judge_denied(self, actor: Actor, route: am.Route, url: str, method: str, resp: Any) -> None:
        status = resp.status_code
        where = f"{actor.name} {method.upper()} {url} → {status}"
        if status >= 500:
            self.failures.append(f"server error: {where}")
        elif 200 <= status < 300:
            self.failures.append(f"unexpected 2xx: {where}")
        elif 300 <= status < 400:
            location = resp.get("Location", "")
            if actor.live or not location.startswith("/login/"):
                self.redirects.append(f"{where} {location}")

    def judge_payload(
        self, actor: Actor, url: str, resp: Any, markers: dict, list_model: Any
    ) -> None:
        if resp.status_code >= 500:
            self.failures.append(f"server error: {actor.name} GET {url} → {resp.status_code}")
            return
        if not 200 <= resp.status_code < 300:
            return
        body = _body(resp)
        for (model, pk), texts in markers.items():
            if actor.sees(model, pk):
                continue
            for text in texts:
                if text in body:
                    self.failures.append(
                        f"foreign {model.__name__} #{pk} ({text}) in {actor.name} GET {url}"
                    )
        if list_model is not None and "json" in resp.get("Content-Type", ""):
            try:
                payload = json.loads(body)
            except ValueError:
                return
            for pk in am.json_ids(payload):
                if not actor.sees(list_model, pk):
                    self.failures.append(
                        f"foreign {list_model.__name__} id {pk} in {actor.name} GET {url}"
                    )


def _related_value(obj: models.Model, model: type[models.Model]) -> Any:
    """For a nested route (/pipelines/<pk>/stages/<stage_pk>/): the parent the object has."""
    for f in obj._meta.concrete_fields:
        if f.is_relation and f.related_model is model:
            return getattr(obj, f.attname)
    first = model._default_manager.order_by("pk").first()
    return first.pk if first else None


def _write_payload(actor: Actor, ids: list[Any]) -> dict[str, Any]:
    """What an attacker would post: ids of foreign records, themselves as the new owner."""
    me = actor.user.pk if actor.user else ""
    return {
        "ids": ids,
        "lead_ids": ids,
        "opportunity_ids": ids,
        "pk": ids[0] if ids else "",
        "owner": me,
        "to_user": me,
        "name": "pwned",
        "reason": "attack",
        "to": "disqualified",
        "action": "reassign",
    }


def test_attack_matrix(
    world, actors, admin_user, capsys, mailoutbox, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):  # notification e-mail goes out
        matrix, routes, object_routes, list_routes, unmapped, admin_hits = _run_matrix(
            world, actors, admin_user
        )
    # Whatever the run made the services send: in-app and by e-mail, all in scope.
    links = am.LinkMap(admin_user)
    matrix.failures += am.notification_leaks(links, world["markers"])
    matrix.failures += am.email_leaks(mailoutbox, links, world["markers"])
    elapsed = time.monotonic() - started
    own_unmapped = [
        r
        for r in unmapped
        if r.route.startswith(OWN_ROUTE_PREFIXES) or r.namespace in OWN_NAMESPACES
    ]
    lines = [
        "",
        f"attack matrix: {len(routes)} routes ({len(object_routes)} with object ids, "
        f"{len(list_routes)} lists/pages), {len(actors)} actors, {matrix.requests} requests "
        f"in {elapsed:.1f}s",
        f"  object routes an admin can GET (mapping sanity): {admin_hits}/{len(object_routes)}",
        "  operations: " + ", ".join(f"{k}={v}" for k, v in sorted(matrix.operations.items())),
        f"  models built from app factories: {', '.join(world['extra_models']) or 'none'}",
        f"  notifications in scope checked: {Notification.objects.count()}, "
        f"e-mails: {len(mailoutbox)}",
    ]
    lines += [f"  factory could not build {f}" for f in world["factory_failures"]]
    lines += [f"  UNMAPPED {r.route} ({r.name}): kwargs {r.unmapped}" for r in unmapped]
    lines += [f"  redirect (check it is not a leak): {r}" for r in matrix.redirects[:30]]
    lines += [f"  FAIL {f}" for f in matrix.failures[:200]]
    with capsys.disabled():
        sys.stdout.write("\n".join(lines) + "\n")
    assert matrix.failures == []
    assert own_unmapped == [], [r.route for r in own_unmapped]
    assert matrix.requests > 0


def _run_matrix(
    world: dict, actors: list[Actor], admin_user: User
) -> tuple[Matrix, list, list, list, list, int]:
    matrix = Matrix()
    markers = world["markers"]
    routes = am.walk_routes()
    am.map_models(routes, admin_user)
    object_routes = [r for r in routes if r.object_kwargs and not r.unmapped]
    list_routes = [r for r in routes if not r.object_kwargs]
    unmapped = [r for r in routes if r.unmapped]
    list_models = {r.route: am._drf_model(r, admin_user) for r in list_routes if r.is_api}
    filler = dict(am.NON_OBJECT_KWARGS)
    admin_hits = 0

    for actor in actors:
        # Everything this actor must not see or touch, as stored before the attack.
        targets: dict[type[models.Model], list[models.Model]] = {}
        for route in object_routes:
            model = route.model_for[route.object_kwargs[-1]]
            if model not in targets:
                rows = list(model._default_manager.order_by("pk")[:200])
                # Dead actors are refused everything: one target per model proves it.
                targets[model] = [o for o in rows if not actor.sees(model, o.pk)][
                    : 2 if actor.live else 1
                ]
        guarded = [obj for objs in targets.values() for obj in objs]
        # Plus every marked record the actor may not see, notifications included: no list or
        # bulk endpoint (mark-read, bulk actions) may touch them given their ids.
        guarded += [
            model._default_manager.get(pk=pk)
            for model, pk in markers
            if not actor.sees(model, pk) and model._default_manager.filter(pk=pk).exists()
        ]
        before = am.snapshot(guarded)

        for route in object_routes:
            last = route.object_kwargs[-1]
            for obj in targets[route.model_for[last]]:
                kwargs = {k: v for k, v in filler.items() if k in route.kwargs}
                for kwarg in route.object_kwargs[:-1]:
                    kwargs[kwarg] = _related_value(obj, route.model_for[kwarg])
                kwargs[last] = obj.pk
                url = _url(route, kwargs)
                if url is None:
                    continue
                methods = (
                    ["get", "post", "put", "patch", "delete"]
                    if route.is_api
                    else [
                        "get",
                        "post",
                        "delete",
                    ]
                )
                for method in methods:
                    response = matrix.send(
                        actor, route, url, method, _write_payload(actor, [obj.pk])
                    )
                    matrix.operations[f"{route.operation()}:{method}"] += 1
                    matrix.judge_denied(actor, route, url, method, response)

        for route in list_routes:
            url = _url(route, {k: v for k, v in filler.items() if k in route.kwargs})
            if url is None:
                continue
            queries = ("", "?q=zq", "?search=zq", "?format=csv", "?export=csv")
            for query in queries if actor.live else queries[:1]:
                response = matrix.send(actor, route, url + query, "get", None)
                matrix.operations[f"{route.operation()}:get"] += 1
                if not actor.live and not route.is_public:
                    matrix.judge_denied(actor, route, url + query, "get", response)
                matrix.judge_payload(
                    actor, url + query, response, markers, list_models.get(route.route)
                )
            foreign = [pk for (model, pk) in markers if not actor.sees(model, pk)]
            response = matrix.send(actor, route, url, "post", _write_payload(actor, foreign))
            matrix.operations[f"{route.operation()}:post"] += 1
            if response.status_code >= 500:
                matrix.failures.append(f"server error: {actor.name} POST {url}")
            if not actor.live and not route.is_public and 200 <= response.status_code < 300:
                matrix.failures.append(f"unexpected 2xx: {actor.name} POST {url}")

        after = am.snapshot(guarded)
        for key, state in before.items():
            if after[key] != state:
                matrix.failures.append(f"{actor.name} changed or deleted foreign {key}")

    # Sanity: the mapping is right when an admin can open the routes it maps.
    admin = Actor("admin", admin_user)
    for route in object_routes:
        model = route.model_for[route.object_kwargs[-1]]
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        kwargs = {k: v for k, v in filler.items() if k in route.kwargs}
        for kwarg in route.object_kwargs[:-1]:
            kwargs[kwarg] = _related_value(obj, route.model_for[kwarg])
        kwargs[route.object_kwargs[-1]] = obj.pk
        url = _url(route, kwargs)
        if url and 200 <= matrix.send(admin, route, url, "get", None).status_code < 300:
            admin_hits += 1
    return matrix, routes, object_routes, list_routes, unmapped, admin_hits


def test_every_cookie_authenticated_unsafe_request_needs_the_csrf_token(admin_user):
    """POST without the token to every route (pages, htmx endpoints, the API via session)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    routes = am.walk_routes()
    am.map_models(routes, admin_user)
    checked = 0
    for route in routes:
        if route.unmapped:
            continue
        kwargs = {k: v for k, v in am.NON_OBJECT_KWARGS.items() if k in route.kwargs}
        for kwarg in route.object_kwargs:
            kwargs[kwarg] = 1  # CSRF is checked before any lookup
        url = _url(route, kwargs)
        if url is None:
            continue
        response = client.post(url, {"name": "x"}, headers={"HX-Request": "true"})
        checked += 1
        assert response.status_code == 403, (url, response.status_code)
        if not route.is_api and not url.startswith("/api/"):
            assert b"CSRF" in response.content, url
    assert checked > 10


def test_a_read_only_token_never_writes_through_any_api_route(rep, admin_user):
    """Tokens act as their owner narrowed to their scopes: with `leads:read` alone, no unsafe
    method on any API route may succeed, whatever its owner's role allows."""
    client = Client()
    headers = {"Authorization": f"Bearer {make_token(rep, ['leads:read'])}"}
    routes = [r for r in am.walk_routes() if r.is_api]
    am.map_models(routes, admin_user)
    own_lead = LeadFactory(owner=rep)
    sent = 0
    for route in routes:
        if route.unmapped:
            continue
        kwargs = dict.fromkeys(route.object_kwargs, own_lead.pk)
        url = _url(route, kwargs)
        if url is None:
            continue
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = client.generic(
                method, url, json.dumps({"ids": [own_lead.pk]}), "application/json", headers=headers
            )
            sent += 1
            assert not 200 <= response.status_code < 300, (method, url, response.status_code)
            assert response.status_code < 500, (method, url)
    assert Lead.objects.filter(pk=own_lead.pk).exists()
    assert sent > 0
