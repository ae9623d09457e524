"""Shared fixtures. Every test module works with two tenants: A (acting) and B (must stay unseen)."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing_site.celery import app as celery_app
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import (
    TEST_PASSWORD,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

# Tests run tasks in-process even when REDIS_URL names a broker; the one test about the
# queue (tests/core/test_health.py) starts a real worker and sends through Redis itself.
# The app reads Django settings under the CELERY_ namespace, so override those keys.
celery_app.conf.update(CELERY_TASK_ALWAYS_EAGER=True, CELERY_TASK_EAGER_PROPAGATES=True)
assert celery_app.conf.task_always_eager

# Every app's factories register themselves for the route-walking tests.
for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.ispkg:
        try:
            importlib.import_module(f"tests.{_module.name}.factories")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.{_module.name}.factories":
                raise


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    # Users are made by the hundred (one per role and tenant) and the production hasher is
    # deliberately slow; what is tested is who may log in, not the hash's strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Uploads and rendered PDFs go to a throw-away folder, never the project's media/.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_login_counts(settings):
    # Failed logins are counted in the cache (billing_site/login_throttle.py): a key prefix of
    # its own gives each test zero counts, also when parallel workers share one Redis.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


@pytest.fixture
def tenant_a(db):
    return TenantFactory(name="Alpha IT", slug="alpha", currency="EUR", time_zone="Europe/Paris")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(
        name="Bravo IT", slug="bravo", currency="DKK", time_zone="Europe/Copenhagen"
    )


@pytest.fixture
def in_tenant_a(tenant_a):
    with tenant_context(tenant_a):
        yield tenant_a


class Staff:
    """Users of one tenant, one per role, created on demand."""

    def __init__(self, tenant):
        self.tenant = tenant
        self._users = {}

    def user(self, role: str):
        if role not in self._users:
            user = UserFactory(username=f"{self.tenant.slug}-{role}")
            MembershipFactory(user=user, tenant=self.tenant, role=role)
            self._users[role] = user
        return self._users[role]


@pytest.fixture
def staff_a(tenant_a):
    return Staff(tenant_a)


@pytest.fixture
def staff_b(tenant_b):
    return Staff(tenant_b)


@pytest.fixture
def client_as(client):
    """Log the browser client in as a user: client_as(user)."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def api_as():
    """An API client with the user's token: api_as(user)."""

    def make(user):
        api = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return api

    return make


@pytest.fixture
def admin_a(staff_a):
    return staff_a.user(Role.BILLING_ADMIN)


__all__ = ["TEST_PASSWORD"]


@pytest.fixture
def worker_database():
    """For tests with a real worker process: it shares the test database only on
    PostgreSQL (CI runs them there; on the SQLite default they are skipped)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database only on PostgreSQL")


@pytest.fixture
def redis_broker(request):
    """The broker database named by the test module's ``BROKER``, emptied and held by
    this test alone (``billing_site.testing.workers.empty_broker``)."""
    from billing_site.testing.workers import empty_broker

    with empty_broker(request.module.BROKER) as client:
        yield client
