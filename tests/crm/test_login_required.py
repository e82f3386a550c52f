"""Nothing but /login, /healthz and static files answers an anonymous visitor (URLconf walk)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

PUBLIC = {"/login/", "/healthz", "/admin/login/"}  # the admin site's own login form
PUBLIC.add("/settings/invite/1/1/")  # an invited user sets their first password (token link)
# Sign-in (signin/): forgot password, the reset link, single sign-on's start and callback.
PUBLIC |= {"/login/forgot/", "/login/forgot/sent/", "/login/reset/1/1/"}
PUBLIC |= {"/sso/1/login/", "/sso/1/login/callback/"}


def _walk(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def concrete_paths() -> list[str]:
    paths = set()
    for route in _walk(get_resolver().url_patterns):
        route = route.lstrip("^").rstrip("$").replace("\\Z", "")
        path = re.sub(r"<(?:\w+:)?\w+>", "1", route)
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
        path = path.replace("\\.", ".").replace("^", "").replace("$", "")
        if "(" in path or "[" in path:
            continue  # regex routes (format suffixes) are covered by their plain twin
        paths.add("/" + path)
    return sorted(paths)


def test_the_walk_finds_the_app_pages():
    paths = concrete_paths()
    assert {"/", "/leads/", "/api/v1/me/", "/healthz"} <= set(paths)


@pytest.mark.parametrize("path", concrete_paths())
def test_anonymous_visitors_are_sent_to_login_or_refused(client, path):
    if path in PUBLIC or path.startswith("/static/"):
        return
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        if path.startswith("/api/"):
            assert response.status_code in {401, 403, 405}, (method, path, response.status_code)
        elif path.startswith("/admin/"):
            assert response.status_code in {302, 404, 405}, (method, path)
            if response.status_code == 302:
                assert "/login/" in response["Location"]
        else:
            assert response.status_code in {302, 405}, (method, path, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/login/")


def test_deactivated_users_are_logged_out(client, rep):
    client.force_login(rep)
    rep.is_active = False
    rep.save()
    assert client.get("/").status_code == 302
