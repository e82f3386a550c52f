"""The SSRF guard: what a webhook URL may be, checked on save and again at every send."""

from __future__ import annotations

import pytest

from webhooks import targets


@pytest.fixture
def no_flag(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.DEBUG = False


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("file:///etc/passwd", "must start with https://"),
        ("http://example.com/hook", "must use https://"),
        ("https:///nohost", "names no host"),
        ("https://user:pw@example.com/hook", "no user name or password"),
        ("https://example.com:99999/hook", "not a valid URL"),
        ("https://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
        ("https://exa mple.com/hook", "spaces or backslashes"),
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://localhost/hook", "localhost resolves to 127.0.0.1, which is a loopback address"),
        ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("https://192.168.0.10/hook", "is a private address"),
        ("https://172.16.5.4/hook", "is a private address"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a cloud metadata address",
        ),
        ("https://169.254.10.10/hook", "is a link-local address"),
        ("https://[::1]/hook", "::1 is a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1 is a loopback address"),
        ("https://[fd00::1]/hook", "is a private address"),
        ("https://100.64.0.1/hook", "is not a public address"),
        ("https://0.0.0.0/hook", "is not a public address"),
        ("https://224.0.0.1/hook", "is not a public address"),
    ],
)
def test_unsafe_urls_are_refused_with_a_reason(no_flag, url, reason):
    with pytest.raises(targets.UnsafeTarget, match=reason.replace(".", r"\.")):
        targets.validate_url(url)


def test_a_name_that_also_resolves_to_a_private_address_is_refused(no_flag, monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(
        targets.UnsafeTarget, match=r"resolves to 10\.0\.0\.5, which is a private address"
    ):
        targets.pin("https://hooks.example.com/plumb")


def test_a_public_target_is_pinned_to_its_checked_address(no_flag, monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.216.34"])
    target = targets.pin("https://hooks.example.com/plumb?x=1")
    assert target.url == "https://93.184.216.34/plumb?x=1"
    assert target.headers == {"Host": "hooks.example.com"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}


def test_ipv6_targets_are_pinned_in_brackets(no_flag, monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["2606:4700::1111"])
    assert targets.pin("https://hooks.example.com:8443/").url == "https://[2606:4700::1111]:8443/"


def test_a_host_that_does_not_resolve_yet_may_be_saved_but_is_retried_at_send(no_flag):
    assert targets.validate_url("https://hooks.invalid/plumb") == "https://hooks.invalid/plumb"
    with pytest.raises(LookupError):
        targets.pin("https://hooks.invalid/plumb")


def test_the_flag_allows_private_targets_and_http_but_never_metadata(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.DEBUG = False
    assert targets.validate_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    assert targets.validate_url("https://10.1.2.3/hook") == "https://10.1.2.3/hook"
    with pytest.raises(targets.UnsafeTarget, match="cloud metadata"):
        targets.validate_url("http://169.254.169.254/latest/")


def test_debug_allows_http_but_not_private_addresses(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.DEBUG = True
    with pytest.raises(targets.UnsafeTarget, match="loopback"):
        targets.validate_url("http://127.0.0.1:8080/hook")
