"""Connecting: OAuth state, tokens encrypted at rest, rotation, a broken grant."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations.core import crypto, oauth, services
from integrations.core.models import Connection, ConnectionStatus, Provider

from .conftest import CALLBACK, connect, consent
from .fakes import FakeXero

pytestmark = pytest.mark.django_db


def test_quickbooks_connects_with_realm_and_encrypted_tokens(in_tenant_a, fake_qbo):
    connection = connect(Provider.QUICKBOOKS)
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.external_id == fake_qbo.realm_id
    assert connection.external_name == fake_qbo.company_name
    stored = Connection.all_tenants.values("access_token", "refresh_token").get(pk=connection.pk)
    current = next(iter(fake_qbo.refresh_tokens))
    assert current not in stored["refresh_token"]
    assert crypto.decrypt(stored["refresh_token"]) == current
    assert connection.refresh_expires_at > timezone.now() + dt.timedelta(days=100)


def test_a_wrong_state_is_refused(in_tenant_a, fake_qbo):
    url = services.connection_start(
        provider_key="quickbooks", redirect_uri=CALLBACK.format("quickbooks")
    )
    answer = consent(url)
    with pytest.raises(ValidationError, match="does not belong to a connection you started"):
        services.connection_complete(
            provider_key="quickbooks",
            state="forged",
            code=answer["code"],
            realm_id=answer["realmId"],
        )
    assert not Connection.objects.filter(status=ConnectionStatus.ACTIVE).exists()


def test_another_tenants_state_does_not_complete_here(in_tenant_a, tenant_b, fake_qbo):
    from billing_site.tenancy import tenant_context

    url = services.connection_start(
        provider_key="quickbooks", redirect_uri=CALLBACK.format("quickbooks")
    )
    answer = consent(url)
    with tenant_context(tenant_b), pytest.raises(ValidationError):
        services.connection_complete(
            provider_key="quickbooks",
            state=answer["state"],
            code=answer["code"],
            realm_id=answer["realmId"],
        )


def test_tokens_are_not_stored_without_a_key_in_production(in_tenant_a, fake_qbo, settings):
    settings.INTEGRATIONS_KEYS = []
    settings.DEBUG = False
    with pytest.raises(ValidationError, match="INTEGRATIONS_KEYS"):
        connect(Provider.QUICKBOOKS)
    assert not Connection.objects.filter(status=ConnectionStatus.ACTIVE).exists()


def test_refresh_rotates_and_the_new_refresh_token_is_kept(in_tenant_a, fake_qbo):
    connection = connect(Provider.QUICKBOOKS)
    old = crypto.decrypt(Connection.objects.get(pk=connection.pk).refresh_token)
    fake_qbo.expire_access_tokens()
    token = oauth.access_token(connection.pk, force_refresh=True)
    connection.refresh_from_db()
    new = crypto.decrypt(connection.refresh_token)
    assert new != old and old in fake_qbo.retired_refresh_tokens
    assert crypto.decrypt(connection.access_token) == token
    assert connection.token_version == 2
    # The next refresh uses the new one and works.
    oauth.access_token(connection.pk, force_refresh=True)


def test_an_expired_access_token_is_refreshed_on_401(quickbooks, fake_qbo, in_tenant_a):
    from integrations.quickbooks.client import QuickBooksClient

    fake_qbo.expire_access_tokens()
    with QuickBooksClient(quickbooks) as api:
        assert api.select_where("Customer", "DisplayName", "Nobody") == []
    quickbooks.refresh_from_db()
    assert quickbooks.token_version == 2


def test_a_revoked_grant_marks_the_connection_broken_and_tells_the_owner(
    quickbooks, fake_qbo, in_tenant_a, client_as, staff_a
):
    from integrations.core.errors import GrantBroken

    fake_qbo.revoke()
    with pytest.raises(GrantBroken, match="invalid_grant"):
        oauth.access_token(quickbooks.pk, force_refresh=True)
    quickbooks.refresh_from_db()
    assert quickbooks.status == ConnectionStatus.BROKEN
    page = client_as(staff_a.user("owner")).get("/")
    assert "needs reconnecting" in page.content.decode()


def test_xero_with_several_organisations_asks_which(in_tenant_a, settings):
    fake = FakeXero(organisations=[("t-1", "North Ltd"), ("t-2", "South Ltd")]).start()
    settings.XERO = fake.settings(settings.XERO)
    try:
        connection = connect(Provider.XERO)
        assert connection.status == ConnectionStatus.CHOOSE_TENANT
        with pytest.raises(ValidationError, match="Choose one of"):
            services.connection_choose_tenant(connection=connection, external_id="t-9")
        connection = services.connection_choose_tenant(connection=connection, external_id="t-2")
        assert (connection.status, connection.external_name) == (
            ConnectionStatus.ACTIVE,
            "South Ltd",
        )
    finally:
        fake.stop()


def test_one_live_connection_per_provider(quickbooks, in_tenant_a):
    with pytest.raises(ValidationError, match="already connected"):
        services.connection_start(provider_key="quickbooks", redirect_uri="http://x/")


def test_missing_app_credentials_are_named(in_tenant_a, settings):
    settings.QUICKBOOKS = {**settings.QUICKBOOKS, "client_id": "", "client_secret": ""}
    with pytest.raises(ValidationError, match="QUICKBOOKS_CLIENT_ID"):
        services.connection_start(provider_key="quickbooks", redirect_uri="http://x/")
