"""Fixtures for the webhooks API and console tests: settings that allow deliveries to this
machine only, and a service's context and app on them."""
from __future__ import annotations

import pytest

from shared.migrations import upgrade
from shared.runtime import service_module

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def load(service: str, settings):
    upgrade(service, settings.database_url(service))
    module = service_module(service)
    ctx = module.build_context(settings)
    return ctx, module.create_app(context=ctx)


@pytest.fixture
def local_settings(settings):
    """As the test suite runs: private addresses allowed, deliveries only to this machine."""
    return settings.with_overrides(webhooks_allow_private=True, webhooks_allow_hosts=LOCAL_HOSTS)


@pytest.fixture
def registry(local_settings):
    ctx, app = load("registry", local_settings)
    yield ctx, app
    ctx.database.dispose()


@pytest.fixture
def complaints(local_settings):
    ctx, app = load("complaints", local_settings)
    yield ctx, app
    ctx.database.dispose()
