import pytest

from services.registry.app import build_context, create_app
from shared.migrations import upgrade


@pytest.fixture
def registry_ctx(settings):
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings)
    yield ctx
    ctx.database.dispose()


@pytest.fixture
def registry_app(registry_ctx):
    return create_app(context=registry_ctx)


@pytest.fixture
def http(registry_app):
    return registry_app.test_client()
