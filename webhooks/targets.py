"""Where a webhook may be sent: the SSRF guard.

A subscription's URL is checked when it is saved (shape, scheme, and the addresses its host
resolves to now) and resolved again at every send: the connection then goes to the address
that was checked (pinned), with the host name kept for the Host header and TLS (SNI and the
certificate check), so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot reach an address the check refused.

Refused: loopback, private, link-local, shared (CGNAT), reserved and multicast addresses,
unless WEBHOOK_ALLOW_PRIVATE_TARGETS is true; the cloud metadata addresses always. https is
required unless DEBUG or that flag.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.conf import settings

# Cloud metadata services: never a webhook target, whatever the flag says.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
MAX_URL_LENGTH = 2000


class UnsafeTarget(Exception):
    """The URL may not be a webhook target; the message says why, for a person to read."""


@dataclass(frozen=True)
class Target:
    """A checked destination: `url` names the pinned address, `headers` and `extensions`
    carry the original host name (Host header; SNI and certificate check for https)."""

    url: str
    host: str
    address: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False))


def check_url(url: str) -> SplitResult:
    """The URL's parts if its shape is acceptable (no DNS): http(s), a host, no fragment."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- urlsplit only validates the port when asked
    except ValueError:
        raise UnsafeTarget("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("A webhook URL must start with https:// (or http://).")
    if parts.scheme == "http" and not (settings.DEBUG or allow_private()):
        raise UnsafeTarget("A webhook URL must use https://.")
    if not parts.hostname:
        raise UnsafeTarget("The URL names no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("Put no user name or password in the URL: check the signature.")
    if any(ch.isspace() for ch in url.strip()) or "\\" in url:
        raise UnsafeTarget("The URL may not contain spaces or backslashes.")
    if parts.hostname.rstrip(".").lower() in METADATA_HOSTS:
        raise UnsafeTarget("The URL points at a cloud metadata service.")
    return parts


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What kind of address may not be a target ("" = it may), e.g. "a loopback address"."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if allow_private():
        return ""
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified or address.is_multicast:
        return "not a public address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return ""


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IP literals resolve to themselves)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise LookupError(f"{host} could not be resolved ({error})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_addresses(host: str, addresses: list[str]) -> str:
    """The first address, when every one of them may be a target (else UnsafeTarget): a name
    that also resolves to a private address is refused, whichever one a client would use."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if kind := refusal(address):
            literal = host.strip("[]").lower() == text.lower()
            where = str(address) if literal else f"{host} resolves to {address}, which"
            raise UnsafeTarget(f"{where} is {kind}.")
    return addresses[0]


def validate_url(url: str) -> str:
    """The URL as stored, or UnsafeTarget: its shape, and where its host resolves now. A host
    that does not resolve yet is accepted (it is resolved and checked again at every send)."""
    parts = check_url(url)
    host = parts.hostname or ""
    try:
        addresses = resolve(host, parts.port or _default_port(parts.scheme))
    except LookupError:
        return url.strip()
    check_addresses(host, addresses)
    return url.strip()


def pin(url: str) -> Target:
    """Resolve and check the URL now and pin the connection to the checked address.
    Raises UnsafeTarget (refused) or LookupError (DNS failed: worth retrying)."""
    parts = check_url(url)
    host = parts.hostname or ""
    port = parts.port or _default_port(parts.scheme)
    address = check_addresses(host, resolve(host, port))
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(
        url=pinned,
        host=host,
        address=address,
        headers={"Host": host_header},
        extensions=extensions,
    )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
