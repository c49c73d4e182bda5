"""Where webhook deliveries may go: https to public addresses only, checked after resolution.

Every test resolves through a stub resolver: no DNS query leaves the machine.
"""
from __future__ import annotations

import ipaddress
import socket
from types import SimpleNamespace

import pytest

from shared.webhooks.policy import Target, UrlRefused, WebhookPolicy

PUBLIC = "93.184.215.14"


class StubResolver:
    """Answers from a table, remembers every question; an unknown host fails like DNS does."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def policy(table=None, **options) -> WebhookPolicy:
    table = table if table is not None else {"hooks.example.com": [PUBLIC]}
    return WebhookPolicy(resolver=StubResolver(table), **options)


def test_https_url_resolving_to_a_public_address_is_accepted_with_its_address():
    checking = policy()
    target = checking.check("https://Hooks.Example.com/in/events?tenant=7")
    assert target == Target(scheme="https", host="hooks.example.com", port=443, path="/in/events?tenant=7",
                            addresses=(PUBLIC,))
    assert checking.resolver.calls == [("hooks.example.com", 443)]
    assert target.host_header == "hooks.example.com"


def test_explicit_port_is_kept_and_named_in_the_host_header():
    target = policy().check("https://hooks.example.com:8443")
    assert (target.port, target.path, target.host_header) == (8443, "/", "hooks.example.com:8443")


def test_http_is_refused_unless_private_addresses_are_allowed():
    with pytest.raises(UrlRefused, match="https"):
        policy().check("http://hooks.example.com/in")
    assert policy(allow_private=True).check("http://hooks.example.com/in").port == 80


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/in", "hooks.example.com/in", "file:///etc/passwd",
                                 "javascript:alert(1)"])
def test_other_schemes_are_refused_even_when_private_addresses_are_allowed(url):
    with pytest.raises(UrlRefused):
        policy(allow_private=True).check(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "::1", "fc00::1", "fe80::1", "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1",
                                     "224.0.0.1", "240.0.0.1", "64:ff9b::a01:203"])
def test_non_public_addresses_are_refused_unless_allowed(address):
    table = {"hooks.example.com": [address]}
    with pytest.raises(UrlRefused, match="public addresses") as refused:
        policy(table).check("https://hooks.example.com/in")
    assert "hooks.example.com" in str(refused.value)
    allowed = policy(table, allow_private=True).check("https://hooks.example.com/in")
    assert [ipaddress.ip_address(a) for a in allowed.addresses] == [ipaddress.ip_address(address)]


@pytest.mark.parametrize("literal", ["https://127.0.0.1/in", "https://[::1]:8443/in", "https://10.0.0.1/in"])
def test_address_literals_are_checked_like_names(literal):
    with pytest.raises(UrlRefused, match="public addresses"):
        WebhookPolicy().check(literal)         # the real resolver: a literal needs no DNS


def test_ipv4_mapped_public_address_is_unwrapped_and_accepted():
    table = {"hooks.example.com": ["::ffff:" + PUBLIC]}
    target = policy(table).check("https://hooks.example.com/")
    assert [ipaddress.ip_address(a) for a in target.addresses] == [ipaddress.ip_address("::ffff:" + PUBLIC)]


def test_a_host_with_one_public_and_one_private_address_is_refused():
    table = {"hooks.example.com": [PUBLIC, "10.0.0.7"]}
    with pytest.raises(UrlRefused, match="10.0.0.7"):
        policy(table).check("https://hooks.example.com/in")


def test_allowed_hosts_refuse_any_other_host_before_resolving_it():
    checking = policy({"hooks.example.com": [PUBLIC], "elsewhere.example.com": [PUBLIC]},
                      allow_hosts=("hooks.example.com",))
    with pytest.raises(UrlRefused, match="allowed webhook hosts"):
        checking.check("https://elsewhere.example.com/in")
    with pytest.raises(UrlRefused, match="allowed webhook hosts"):
        checking.check_syntax("https://elsewhere.example.com/in")
    assert checking.resolver.calls == []
    assert checking.check("https://HOOKS.example.com/in").addresses == (PUBLIC,)


def test_allowed_hosts_match_ipv6_addresses_without_brackets():
    checking = policy({"::1": ["::1"]}, allow_hosts=("127.0.0.1", "localhost", "::1"), allow_private=True)
    target = checking.check("http://[::1]:8080/in")
    assert (target.host, target.addresses, target.host_header) == ("::1", ("::1",), "[::1]:8080")
    with pytest.raises(UrlRefused, match="allowed webhook hosts"):
        checking.check("http://[::2]:8080/in")


@pytest.mark.parametrize("url", ["https://user:secret@hooks.example.com/in",
                                 "https://user@hooks.example.com/in", "https://@hooks.example.com/in"])
def test_user_names_and_passwords_in_the_url_are_refused(url):
    checking = policy()
    with pytest.raises(UrlRefused, match="user name or password"):
        checking.check(url)
    assert checking.resolver.calls == []


@pytest.mark.parametrize("url", ["https:///in", "https://:443/in", "https://hooks.example.com:99999/in",
                                 "https://hooks.example.com/in put",
                                 "https://hooks.example.com/\r\nX-Evil: 1", ""])
def test_malformed_urls_are_refused_without_resolving(url):
    checking = policy()
    with pytest.raises(UrlRefused):
        checking.check(url)
    assert checking.resolver.calls == []


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(UrlRefused, match="could not be resolved"):
        policy().check("https://nowhere.example.com/in")
    with pytest.raises(UrlRefused, match="could not be resolved"):
        policy({"hooks.example.com": []}).check("https://hooks.example.com/in")


def test_check_syntax_never_resolves():
    checking = policy({})
    checking.check_syntax("https://hooks.example.com/in")
    assert checking.resolver.calls == []
    with pytest.raises(UrlRefused):
        checking.check_syntax("http://hooks.example.com/in")


def test_policy_from_settings_reads_both_webhook_settings():
    strict = WebhookPolicy.from_settings(SimpleNamespace(webhooks_allow_private=False,
                                                         webhooks_allow_hosts=None))
    assert (strict.allow_private, strict.allow_hosts) == (False, None)
    loose = WebhookPolicy.from_settings(SimpleNamespace(
        webhooks_allow_private=True, webhooks_allow_hosts=("127.0.0.1", "localhost", "::1")))
    assert (loose.allow_private, loose.allow_hosts) == (True, ("127.0.0.1", "localhost", "::1"))
    with pytest.raises(UrlRefused, match="allowed webhook hosts"):
        loose.check_syntax("http://hooks.example.com/in")
