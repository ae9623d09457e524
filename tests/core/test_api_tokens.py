"""API tokens expire after API_TOKEN_DAYS and can be revoked or replaced from the
account page; the token endpoint hands out a new one once the old expired."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing_site.roles import Role
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)


def obtain(user) -> dict:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def with_token(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_a_token_works_for_its_lifetime_then_is_refused(staff_a, settings):
    settings.API_TOKEN_DAYS = 30
    user = staff_a.user(Role.BILLING_ADMIN)
    with time_machine.travel(NOW, tick=False) as traveller:
        issued = obtain(user)
        assert issued["expires_at"].startswith("2026-04-19T09:00:00")
        assert obtain(user)["token"] == issued["token"]  # the same while it works
        api = with_token(issued["token"])
        assert api.get("/api/v1/invoices/").status_code == 200
        traveller.move_to(NOW + dt.timedelta(days=30))
        refused = api.get("/api/v1/invoices/")
        assert refused.status_code == 401
        assert "expired on 2026-04-19" in refused.json()["detail"]
        renewed = obtain(user)
        assert renewed["token"] != issued["token"]
        assert with_token(renewed["token"]).get("/api/v1/invoices/").status_code == 200


def test_the_account_page_lists_replaces_and_revokes_the_token(staff_a, client_as):
    user = staff_a.user(Role.TECHNICIAN)
    old = obtain(user)["token"]
    client = client_as(user)
    page = client.get(reverse("account")).content.decode()
    assert f"{old[:6]}…" in page and old not in page  # only its start is shown
    replaced = client.post(reverse("account"), {"action": "new"}).content.decode()
    new = Token.objects.get(user=user).key
    assert new != old and new in replaced  # shown once, right after it is made
    assert with_token(old).get("/api/v1/sessions/").status_code == 401
    assert with_token(new).get("/api/v1/sessions/").status_code == 200
    client.post(reverse("account"), {"action": "revoke"})
    assert not Token.objects.filter(user=user).exists()
    assert with_token(new).get("/api/v1/sessions/").status_code == 401
    assert "You have no API token" in client.get(reverse("account")).content.decode()


def test_the_header_links_staff_to_their_account(staff_a, client_as):
    page = client_as(staff_a.user(Role.ACCOUNTANT)).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("account")}"' in page
