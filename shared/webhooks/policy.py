"""Where webhook deliveries may go: the URL rules, checked at registration and at every attempt.

A URL must be ``https`` and its host must resolve only to public addresses: loopback, private,
link-local, shared (100.64/10), multicast, reserved and unspecified addresses are refused after
DNS resolution, with IPv4 inside IPv6 (``::ffff:a.b.c.d``, 6to4, NAT64) unwrapped first. A host
with one public and one private address is refused: a connection could reach either.
``allow_private`` (``CLIENTLOOP_WEBHOOKS_ALLOW_PRIVATE=1``, for development and tests) lifts both
rules. ``allow_hosts`` (``CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS``), when set, is the only list of hosts
deliveries may go to; it is checked before any DNS lookup, so a refused host is never resolved.

:meth:`WebhookPolicy.check` returns the addresses it checked; the sender connects to those and
resolves nothing again, so a name cannot resolve to a public address for the check and to a
private one for the connection.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"https": 443, "http": 80}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """A URL deliveries may not go to; ``str(error)`` is a sentence for the person who gave it."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (any of ``addresses``) and what to ask for."""
    scheme: str
    host: str          # lower-case, IDNA-encoded, IPv6 without brackets
    port: int
    path: str          # path and query, never empty
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The ``Host`` header of a request for this URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``), in the resolver's order."""
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP):
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


def _host_key(host: str) -> str:
    """A host as compared with ``allow_hosts``: lower-case, no brackets, IP addresses canonical."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def non_global_reason(address: str) -> str | None:
    """Why ``address`` is not a public internet address, or None when it is one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None:
            reason = non_global_reason(str(embedded))
            if reason:
                return reason
            if ip.ipv4_mapped or ip in _NAT64:
                return None
    for reason, flagged in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                            ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                            ("private", ip.is_private), ("reserved", ip.is_reserved),
                            ("not globally routable", not ip.is_global)):
        if flagged:
            return reason
    return None


@dataclass(frozen=True)
class WebhookPolicy:
    allow_private: bool = False
    allow_hosts: tuple[str, ...] | None = None
    resolver: Callable[[str, int], list[str]] = resolve

    @classmethod
    def from_settings(cls, settings) -> "WebhookPolicy":
        return cls(allow_private=bool(settings.webhooks_allow_private),
                   allow_hosts=None if settings.webhooks_allow_hosts is None
                   else tuple(settings.webhooks_allow_hosts))

    def check_syntax(self, url: str) -> None:
        """Refuse ``url`` for everything that needs no DNS lookup (scheme, host, allowed hosts)."""
        self._parse(url)

    def check(self, url: str) -> Target:
        """The target of ``url`` with the addresses it resolves to, or :class:`UrlRefused`."""
        scheme, host, port, path = self._parse(url)
        try:
            resolved = list(self.resolver(host, port))
        except (OSError, UnicodeError, ValueError) as error:
            raise UrlRefused(f"The host {host} could not be resolved ({error}).") from None
        if not resolved:
            raise UrlRefused(f"The host {host} could not be resolved (no addresses).")
        addresses: list[str] = []
        for address in resolved:
            try:
                canonical = str(ipaddress.ip_address(address))
            except ValueError:
                raise UrlRefused(f"The host {host} resolved to {address!r}, "
                                 "which is not an IP address.") from None
            if not self.allow_private:
                reason = non_global_reason(canonical)
                if reason:
                    raise UrlRefused(f"The host {host} resolves to {canonical}, which is {reason}; "
                                     "webhooks may only go to public addresses.")
            if canonical not in addresses:
                addresses.append(canonical)
        return Target(scheme, host, port, path, tuple(addresses))

    def _parse(self, url: str) -> tuple[str, str, int, str]:
        if not isinstance(url, str) or not url:
            raise UrlRefused("The URL is empty.")
        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
            raise UrlRefused("The URL may not contain spaces or control characters.")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UrlRefused(f"The URL is not valid ({error}).") from None
        scheme = parts.scheme.lower()
        allowed_schemes = ("https", "http") if self.allow_private else ("https",)
        if scheme not in allowed_schemes:
            raise UrlRefused("The URL must start with https://." if not self.allow_private
                             else "The URL must start with https:// or http://.")
        if "@" in parts.netloc:
            raise UrlRefused("The URL may not contain a user name or password.")
        host = parts.hostname or ""
        if not host:
            raise UrlRefused("The URL has no host.")
        try:
            host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError:
            raise UrlRefused(f"The host {host} is not a valid host name.") from None
        if self.allow_hosts is not None:
            allowed = {_host_key(entry) for entry in self.allow_hosts if entry.strip()}
            if _host_key(host) not in allowed:
                raise UrlRefused(f"The host {host} is not in the allowed webhook hosts "
                                 f"(CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS).")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return scheme, host, port if port is not None else DEFAULT_PORTS[scheme], path
