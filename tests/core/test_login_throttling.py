"""Login throttling (decision 0009): failed logins counted per account and per client address
in the shared cache, a lockout that refuses even the right password until it expires, client
addresses from trusted proxies only, and the API schema and docs behind a login."""

import io
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import environ
import pytest
import time_machine
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from billing_site.login_throttle import client_address
from billing_site.roles import Role
from billing_site.testing.factories import TEST_PASSWORD, OrganizationFactory
from tests.portal.factories import portal_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own: the counts of this module never meet the broker's keys.
REDIS_CACHE_URL = os.environ.get("TEST_CACHE_URL", "redis://127.0.0.1:6379/5")
LOCKED = "Too many failed logins"


def page_login(client, username, password, url="login", **extra):
    return client.post(reverse(url), {"username": username, "password": password}, **extra)


def token_login(client, username, password, **extra):
    return client.post(
        reverse("api-token"),
        {"username": username, "password": password},
        content_type="application/json",
        **extra,
    )


@pytest.fixture
def alice(staff_a):
    return staff_a.user(Role.BILLING_ADMIN)


@pytest.fixture
def bob(staff_b):
    return staff_b.user(Role.BILLING_ADMIN)


@pytest.mark.parametrize("url", ["login", "admin:login"])
def test_login_page_locks_the_account_after_five_failures(client, alice, bob, url):
    for _ in range(4):
        response = page_login(client, alice.username, "wrong", url=url)
        assert response.status_code == 200
        assert LOCKED not in response.content.decode()
    response = page_login(client, alice.username, "wrong", url=url)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "15 minutes" in response.content.decode()

    # The right password is refused too, and nobody is logged in.
    response = page_login(client, alice.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session

    # Another account from the same address is not locked by Alice's five failures.
    assert page_login(client, bob.username, TEST_PASSWORD).status_code == 302


def test_a_portal_login_is_locked_on_the_same_page(client, tenant_a):
    user = portal_user(OrganizationFactory(tenant=tenant_a))
    for _ in range(5):
        response = page_login(client, user.username, "wrong")
    assert response.status_code == 429
    assert page_login(client, user.username, TEST_PASSWORD).status_code == 429


def test_token_endpoint_locks_the_account_after_five_failures(client, alice):
    for _ in range(4):
        assert token_login(client, alice.username, "wrong").status_code == 400
    response = token_login(client, alice.username, "wrong")
    assert response.status_code == 429
    assert response.json()["detail"].startswith(LOCKED)
    assert response["Retry-After"] == str(15 * 60)

    response = token_login(client, alice.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert "token" not in response.json()


def test_page_and_token_endpoint_share_the_account_count(client, alice):
    for _ in range(3):
        page_login(client, alice.username, "wrong")
    for _ in range(2):
        token_login(client, alice.username, "wrong")
    assert page_login(client, alice.username, TEST_PASSWORD).status_code == 429


def test_the_lockout_expires(client, alice, settings):
    # Local memory: it expires keys on the (travelling) clock; Redis expires on its own.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with time_machine.travel(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), tick=False) as clock:
        for _ in range(5):
            token_login(client, alice.username, "wrong")
        assert token_login(client, alice.username, TEST_PASSWORD).status_code == 429
        # Attempts while locked are not counted, so they do not push the end back.
        clock.shift(timedelta(minutes=14))
        assert token_login(client, alice.username, TEST_PASSWORD).status_code == 429
        clock.shift(timedelta(minutes=1, seconds=1))
        response = token_login(client, alice.username, TEST_PASSWORD)
        assert response.status_code == 200
        assert response.json()["token"]


def test_a_success_resets_the_account_count(client, alice):
    for _ in range(4):
        token_login(client, alice.username, "wrong")
    assert token_login(client, alice.username, TEST_PASSWORD).status_code == 200
    for _ in range(4):
        assert token_login(client, alice.username, "wrong").status_code == 400
    assert token_login(client, alice.username, "wrong").status_code == 429


def test_an_address_is_locked_after_twenty_failures_over_any_accounts(client, alice):
    for n in range(19):
        assert token_login(client, f"guess-{n}", "wrong").status_code == 400
    assert token_login(client, "guess-19", "wrong").status_code == 429
    # Alice has no failures of her own, but her login comes from the locked address.
    assert page_login(client, alice.username, TEST_PASSWORD).status_code == 429
    # The same account from another address is not locked.
    other = Client(REMOTE_ADDR="198.51.100.9")
    assert page_login(other, alice.username, TEST_PASSWORD).status_code == 302


def test_a_success_does_not_reset_the_address_count(client, alice):
    for n in range(19):
        token_login(client, f"guess-{n}", "wrong")
    # A valid login of one's own must not clear the count of guesses at other accounts.
    assert token_login(client, alice.username, TEST_PASSWORD).status_code == 200
    assert token_login(client, "guess-19", "wrong").status_code == 429


def test_an_admin_can_unlock_an_account_early(client, alice):
    for _ in range(5):
        token_login(client, alice.username, "wrong")
    call_command("axes_reset_username", alice.username, stdout=io.StringIO())
    assert token_login(client, alice.username, TEST_PASSWORD).status_code == 200


def test_rotating_x_forwarded_for_does_not_bypass_without_trusted_proxies(client, alice, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    for n in range(20):
        token_login(client, f"guess-{n}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = token_login(client, alice.username, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert response.status_code == 429


def test_one_trusted_proxy_gives_the_address_it_saw(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(20):
        # The client writes anything on the left; the proxy appends the address it saw.
        forwarded = f"192.0.2.{n}, 203.0.113.7"
        token_login(client, f"guess-{n}", "wrong", HTTP_X_FORWARDED_FOR=forwarded, **proxy)
    locked = token_login(
        client, alice.username, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy
    )
    assert locked.status_code == 429
    # Another client behind the same proxy is not locked.
    other = token_login(
        client, alice.username, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.9", **proxy
    )
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "10.0.0.2"),  # no trusted proxy: the header is never read
        (1, "192.0.2.1, 203.0.113.7", "203.0.113.7"),
        (2, "192.0.2.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (1, "2001:db8::1", "2001:db8::1"),
        (2, "203.0.113.7", "10.0.0.2"),  # shorter than the proxy chain: not the client's word
        (1, "", "10.0.0.2"),
        (1, "not-an-address", "10.0.0.2"),
    ],
)
def test_client_address_from_trusted_proxies(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_two_clients_share_the_count(alice):
    first, second = Client(), Client()
    for _ in range(3):
        token_login(first, alice.username, "wrong")
    for _ in range(2):
        token_login(second, alice.username, "wrong")
    assert token_login(first, alice.username, TEST_PASSWORD).status_code == 429
    assert token_login(second, alice.username, TEST_PASSWORD).status_code == 429


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


# A second web worker: its own process and memory, the same Redis. A locked account is
# refused before any database is read, so it needs none.
SECOND_WORKER = """
import sys
import django
django.setup()
from django.test import Client
response = Client().post(
    "/api/v1/auth/token/",
    {"username": sys.argv[1], "password": sys.argv[2]},
    content_type="application/json",
)
print(response.status_code)
"""


def test_another_worker_process_sees_the_count_in_redis(client, alice, settings):
    if not _redis_reachable(REDIS_CACHE_URL):
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable in CI")
        pytest.skip("Redis not running on this machine")
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {**environ.Env.cache_url_config(REDIS_CACHE_URL), "KEY_PREFIX": prefix}
    }
    for _ in range(5):
        token_login(client, alice.username, "wrong")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_site.settings",
        "CACHE_URL": f"{REDIS_CACHE_URL}?key_prefix={prefix}",
        "DATABASE_URL": "sqlite:///:memory:",
    }
    result = subprocess.run(
        [sys.executable, "-c", SECOND_WORKER, alice.username, TEST_PASSWORD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1:] == ["429"], result.stdout + result.stderr


def test_schema_and_docs_need_a_login(client, alice, api_as):
    for name in ("api-schema", "api-docs", "api-redoc"):
        assert client.get(reverse(name)).status_code == 401, name
    # A browser is shown the way to the login page, back to the docs after it.
    page = client.get(reverse("api-docs")).content.decode()
    assert f"{reverse('login')}?next=/api/v1/docs/" in page
    client.force_login(alice)
    for name in ("api-schema", "api-docs", "api-redoc"):
        assert client.get(reverse(name)).status_code == 200, name
    assert api_as(alice).get(reverse("api-schema")).status_code == 200


def test_schema_and_docs_public_when_configured(client, settings):
    settings.API_SCHEMA_PUBLIC = True
    for name in ("api-schema", "api-docs", "api-redoc"):
        assert client.get(reverse(name)).status_code == 200, name
