"""Who is asking: ``CLIENTLOOP_ORG_*`` read at start, the default name, the logo's rules and the
Content-Security-Policy that lets that logo, and nothing else, load."""
from __future__ import annotations

import pytest

from services.survey.web.organisation import (Organisation, content_security_policy,
                                              logo_origin, organisation)
from shared.config import Settings, logo_url
from tests.conftest import TEST_SECRET


def settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env(env, data_dir=tmp_path, secret_key=TEST_SECRET)


def test_unset_means_a_neutral_name_in_the_page_language_and_no_logo_or_contact(tmp_path):
    configured = settings(tmp_path)
    assert (configured.org_name, configured.org_logo_url, configured.org_contact) == (None, None, None)
    assert organisation(configured, "en") == Organisation("Customer Feedback Team")
    assert organisation(configured, "zh-CN") == Organisation("客户反馈团队")


def test_the_organisation_is_read_from_the_environment_trimmed_on_one_line(tmp_path):
    configured = settings(tmp_path, CLIENTLOOP_ORG_NAME="  Acme\n  咨询  ",
                          CLIENTLOOP_ORG_LOGO_URL=" /brand/logo.png ",
                          CLIENTLOOP_ORG_CONTACT="help@acme.example\t· 400-800-1234")
    assert organisation(configured, "en") == Organisation(
        "Acme 咨询", "/brand/logo.png", "help@acme.example · 400-800-1234")
    assert settings(tmp_path, CLIENTLOOP_ORG_NAME="   ").org_name is None


@pytest.mark.parametrize("name,length", [("CLIENTLOOP_ORG_NAME", 201),
                                         ("CLIENTLOOP_ORG_CONTACT", 301)])
def test_overlong_texts_are_refused_at_start(tmp_path, name, length):
    with pytest.raises(SystemExit, match=name):
        settings(tmp_path, **{name: "x" * length})


@pytest.mark.parametrize("value", [
    "https://cdn.acme.example/brand/logo.svg", "https://CDN.acme.example:8443/logo.png?v=2&x=1",
    "https://cdn.acme.example", "/brand/logo.png", "/logo.png?v=1"])
def test_a_logo_is_an_https_url_or_a_path_on_this_site(value):
    assert logo_url(value) == value


@pytest.mark.parametrize("value", [
    "http://cdn.acme.example/logo.png", "javascript:alert(1)", "data:image/png;base64,AAAA",
    "//cdn.acme.example/logo.png", "/\\cdn.acme.example/logo.png", "logo.png",
    "https://user:pass@cdn.acme.example/logo.png", "https://cdn.acme.example;script-src */x",
    "https://cdn.acme.example/logo.png\"onerror=\"x", "/logo.png onerror=x",
    "https://cdn.acme.example/a\x00b", "https://cdn.acme.example#frag", "ftp://x/logo.png",
    "https://", "https://cdn_acme.example/logo.png"])
def test_anything_else_is_refused_at_start_in_one_line(tmp_path, value):
    with pytest.raises(SystemExit) as refused:
        settings(tmp_path, CLIENTLOOP_ORG_LOGO_URL=value)
    message = str(refused.value)
    assert message.startswith("CLIENTLOOP_ORG_LOGO_URL must be an https:// URL or a path")
    assert "\n" not in message


def test_the_pages_load_images_from_this_site_and_the_logos_origin_only():
    assert logo_origin("/brand/logo.png") is None and logo_origin(None) is None
    assert logo_origin("https://CDN.acme.example:8443/x.svg?v=1") == "https://cdn.acme.example:8443"
    assert content_security_policy(None) == (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
    assert "img-src 'self';" in content_security_policy("/brand/logo.png")
    assert "img-src 'self' https://cdn.acme.example;" in content_security_policy(
        "https://cdn.acme.example/logo.svg")
