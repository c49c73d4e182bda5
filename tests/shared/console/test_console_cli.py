"""``clientloop up`` prints the console's URL and a one-time sign-in link; ``clientloop console
link`` makes more, pointing at the running suite. A link signs in once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from shared.startup import banner
from tests.e2e.test_embedded_up import Suite, start, suites  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[3]
INDEX = {"links": {"api": "/registry/api/v1/", "console": "/registry/console"}}


def test_the_banner_names_the_console_and_its_sign_in_link_only_when_a_service_serves_one():
    text = banner("http://h:1", Path("/d"), {"registry": INDEX}, "TOKEN", 30,
                  sign_in_link="http://h:1/registry/console/sign-in/LINK")
    assert "  console      http://h:1/registry/console/" in text
    assert "http://h:1/registry/console/sign-in/LINK" in text
    without = banner("http://h:1", Path("/d"), {"registry": {"links": {}}}, "TOKEN", 30,
                     sign_in_link="http://h:1/registry/console/sign-in/LINK")
    assert "console" not in without


def signed_in_by(link: str) -> requests.Response:
    return requests.get(link, timeout=10, allow_redirects=True, headers={"Accept-Language": "en"})


def test_up_prints_the_console_and_a_link_that_signs_in_once(tmp_path, suites):  # noqa: F811
    data_dir = tmp_path / "var"
    suite = start(suites, data_dir, tmp_path)
    lines = suite.lines
    for service in ("complaints", "registry", "survey"):
        assert f"  console      {suite.url}/{service}/console/" in lines, suite.output()
    link = next(line for line in lines if line.startswith(f"{suite.url}/registry/console/sign-in/"))

    first = signed_in_by(link)
    assert first.status_code == 200 and first.url == f"{suite.url}/registry/console/"
    assert "Signed in as admin (admin)." in first.text
    second = signed_in_by(link)
    assert second.status_code == 410 and "already been used" in second.text

    # more links, for the running suite's address (read from its data folder)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    made = subprocess.run([sys.executable, "-m", "shared.cli", "console", "link", "--name", "王芳",
                           "--role", "analyst", "--data-dir", str(data_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert "within 15 minutes" in made.stderr
    another = made.stdout.strip()
    assert another.startswith(f"{suite.url}/registry/console/sign-in/")
    page = signed_in_by(another)
    assert page.status_code == 200 and "王芳" in page.text and "analyst" in page.text
    assert suite.interrupt() == 0                      # Ctrl-C: the web server stops with it


def test_console_link_refuses_an_unknown_role_and_a_folder_without_a_key(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    for args, message in ((["--role", "boss"], "invalid choice"), (["--role", "staff"], "no secret key")):
        made = subprocess.run([sys.executable, "-m", "shared.cli", "console", "link", "--name", "A",
                               *args, "--data-dir", str(tmp_path / "empty")],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert made.returncode != 0 and message in made.stderr and made.stdout == ""


def test_a_link_needs_the_registry_database_where_it_is_used_up(settings):
    from datetime import datetime, timezone

    import pytest

    from shared.token_commands import TokenStoreError, create_link
    production = settings.with_overrides(extra={"CLIENTLOOP_SURVEY_DATABASE_URL": "postgresql://x/y"})
    with pytest.raises(TokenStoreError, match="CLIENTLOOP_REGISTRY_DATABASE_URL is not set"):
        create_link(production, name="A", role="staff", now=datetime.now(timezone.utc),
                    public_url="https://example.com")
