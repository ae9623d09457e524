"""The audit log page, the History sections and the API: filtered, paged, per tenant, and
read only everywhere (no write route, the admin, and the database itself)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from audit import services as audit
from audit.admin import AuditEntryAdmin
from audit.models import Action, AuditEntry, ObjectType
from billing_site import rls
from billing_site.roles import Role
from billing_site.tenancy import actor_context, tenant_context
from contracts import services as contracts
from tests.contracts.factories import ContractFactory

from .factories import AuditEntryFactory

pytestmark = pytest.mark.django_db
LOG = "/audit/"
API = "/api/v1/audit/"


@pytest.fixture
def history(tenant_a, tenant_b, staff_a):
    """Tenant A: 60 entries over three days by two people and the system; B: look-alikes."""
    admin, owner = staff_a.user(Role.BILLING_ADMIN), staff_a.user(Role.OWNER)
    start = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    for index in range(60):
        actor = (admin, owner, None)[index % 3]
        AuditEntryFactory(
            tenant=tenant_a,
            created_at=start + dt.timedelta(days=index // 20),
            actor=actor,
            actor_name=audit.label_of(actor) if actor else "system: payments_sync_task",
            action=(Action.UPDATE, Action.FINALIZE)[index % 2],
            object_type=(ObjectType.CONTRACT, ObjectType.INVOICE)[index % 2],
            object_label=f"A-{index}",
        )
    AuditEntryFactory(tenant=tenant_b, object_label="B-secret", created_at=start)
    return admin, owner


def labels(response) -> list[str]:
    return [row["object_label"] for row in response.json()["results"]]


def test_page_lists_newest_first_in_pages_of_fifty(history, client_as):
    admin, _ = history
    page = client_as(admin).get(LOG).content.decode()
    assert "A-59" in page and "A-10" in page and "A-9<" not in page
    assert "1–50 of 60" in page and "B-secret" not in page
    second = client_as(admin).get(LOG, {"page": 2}).content.decode()
    assert "A-9<" in second and "A-59" not in second


def test_page_filters_by_day_user_action_and_object(history, client_as):
    admin, owner = history
    client = client_as(admin)
    # 2 March in Paris (the tenant's zone) holds entries 20–39.
    day = client.get(LOG, {"date_from": "2026-03-02", "date_to": "2026-03-02"}).content.decode()
    assert "1–20 of 20" in day and "A-39" in day and "A-40" not in day
    mine = client.get(LOG, {"user": owner.pk, "action": "finalize"}).content.decode()
    assert "1–10 of 10" in mine  # every third entry is the owner's, every other one finalises
    system = client.get(LOG, {"user": "system", "object_type": "contract"}).content.decode()
    assert "1–10 of 10" in system and "system: payments_sync_task" in system
    wrong = client.get(LOG, {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert "The end date is before the start date." in wrong.content.decode()
    assert "A-59" not in wrong.content.decode()


def test_who_may_read_the_log(history, staff_a, client_as, api_as):
    for role in (Role.OWNER, Role.BILLING_ADMIN, Role.ACCOUNTANT):
        assert client_as(staff_a.user(role)).get(LOG).status_code == 200
        assert api_as(staff_a.user(role)).get(API).status_code == 200
    technician = staff_a.user(Role.TECHNICIAN)
    assert client_as(technician).get(LOG).status_code == 403
    assert api_as(technician).get(API).status_code == 403


def test_api_lists_filters_and_hides_other_tenants(history, api_as, tenant_b):
    admin, owner = history
    api = api_as(admin)
    body = api.get(API).json()
    assert body["count"] == 60 and "B-secret" not in labels(api.get(API, {"page_size": 500}))
    first = body["results"][0]
    assert first["object_label"] == "A-59"
    assert first["before"] == {"rate": "90.0000"} and first["created_at"].endswith("Z")
    assert api.get(API, {"actor": owner.pk}).json()["count"] == 20
    assert api.get(API, {"system": "true"}).json()["count"] == 20
    assert api.get(API, {"object_type": "invoice", "date_from": "2026-03-03"}).json()["count"] == 10
    assert api.get(API, {"object_type": "nonsense"}).status_code == 400
    other = AuditEntry.all_tenants.get(tenant=tenant_b)
    assert api.get(f"{API}{other.pk}/").status_code == 404
    mine = AuditEntry.all_tenants.filter(object_label="A-3").get()
    assert api.get(f"{API}{mine.pk}/").json()["object_label"] == "A-3"


def test_nothing_can_be_written_through_the_app(history, api_as, client_as, rf):
    _, owner = history
    entry = AuditEntry.all_tenants.filter(object_label="A-3").get()
    api = api_as(owner)
    assert api.post(API, {"object_label": "x"}, format="json").status_code == 405
    for method in ("put", "patch", "delete"):
        response = getattr(api, method)(f"{API}{entry.pk}/", {"object_label": "x"}, format="json")
        assert response.status_code == 405, method
    assert client_as(owner).post(LOG, {"object_label": "x"}).status_code == 405
    request = rf.get("/admin/")
    request.user = owner
    admin_page = AuditEntryAdmin(AuditEntry, None)
    assert not admin_page.has_add_permission(request)
    assert not admin_page.has_change_permission(request, entry)
    assert not admin_page.has_delete_permission(request, entry)
    entry.refresh_from_db()
    assert entry.object_label == "A-3"


def test_schema_lists_the_read_only_endpoint(admin_a, api_as):
    schema = api_as(admin_a).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert set(schema["paths"]["/api/v1/audit/"]) == {"get"}
    assert set(schema["paths"]["/api/v1/audit/{id}/"]) == {"get"}


def test_history_sections_show_what_belongs_to_the_object(
    in_tenant_a, tenant_a, admin_a, client_as
):
    contract = ContractFactory(tenant=tenant_a)
    other = ContractFactory(tenant=tenant_a, name="Other contract")
    with actor_context(admin_a):
        contracts.contract_update(contract=contract, notes="New terms")
        contracts.rate_rule_create(rate=Decimal("120"), contract=contract)
        contracts.contract_update(contract=other, notes="Not this one")
    page = client_as(admin_a).get(reverse("contracts:contract-detail", args=[contract.pk]))
    html = page.content.decode()
    section = html[html.index('id="history"') :]
    assert "New terms" in section and "120" in section and "Not this one" not in section
    rules = client_as(admin_a).get(reverse("contracts:rate-rule-list")).content.decode()
    assert 'id="history"' in rules and "120" in rules[rules.index('id="history"') :]


def test_history_is_not_shown_to_technicians(in_tenant_a, tenant_a, staff_a, client_as):
    customer = ContractFactory(tenant=tenant_a).customer
    page = client_as(staff_a.user(Role.TECHNICIAN)).get(
        reverse("customer-detail", args=[customer.pk])
    )
    assert page.status_code == 200 and 'id="history"' not in page.content.decode()


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the trigger and the grants are PostgreSQL's")


def _raw(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_remove_an_entry(postgres_only, in_tenant_a, tenant_a):
    entry = AuditEntryFactory(tenant=tenant_a)
    # The trigger stops every role, the owner (this connection) included.
    for sql in (
        "UPDATE audit_auditentry SET object_label = 'forged' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw(sql, [entry.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(object_label="forged")
    entry.refresh_from_db()
    assert entry.object_label != "forged"


@pytest.mark.postgres
def test_the_application_role_may_only_add_and_read(postgres_only, in_tenant_a, tenant_a, settings):
    role = settings.DB_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
    rls.apply_policies()  # what post_migrate does: the wall and the role's rights
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_table_privilege(%s, 'audit_auditentry', 'INSERT'), "
            "has_table_privilege(%s, 'audit_auditentry', 'SELECT'), "
            "has_table_privilege(%s, 'audit_auditentry', 'UPDATE'), "
            "has_table_privilege(%s, 'audit_auditentry', 'DELETE'), "
            "has_table_privilege(%s, 'audit_auditentry', 'TRUNCATE')",
            [role] * 5,
        )
        assert cursor.fetchone() == (True, True, False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_policies WHERE tablename = 'audit_auditentry' "
            "AND policyname = %s",
            [rls.POLICY],
        )
        assert cursor.fetchone() == (1,)
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{role}"')
    try:
        with transaction.atomic():
            audit.record(
                action=Action.UPDATE,
                target=audit.Target(ObjectType.CONTRACT, 1, "written as the app"),
            )
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            _raw("DELETE FROM audit_auditentry")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert AuditEntry.objects.filter(object_label="written as the app").exists()


@pytest.mark.postgres
def test_a_removed_tenant_takes_its_log_through_the_named_path_only(
    postgres_only, tenant_a, tenant_b
):
    AuditEntryFactory(tenant=tenant_a)
    kept = AuditEntryFactory(tenant=tenant_b)
    assert audit.tenant_log_erase(tenant=tenant_a) == 1
    # The setting names one tenant: another's rows stay refused.
    with (
        tenant_context(tenant_b),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        _raw("SELECT set_config('app.audit_erase_tenant', %s, true)", [str(tenant_a.pk)])
        _raw("DELETE FROM audit_auditentry WHERE id = %s", [kept.pk])
    assert AuditEntry.all_tenants.filter(tenant=tenant_a).count() == 0
    assert AuditEntry.all_tenants.filter(pk=kept.pk).exists()


@pytest.mark.parametrize(
    ("locale", "shown"),
    [("fr_FR", "95,00 → 110,50</li>"), ("en_US", "1,250.00 → 133.3333</li>")],
)
def test_amounts_before_and_after_read_like_every_figure_on_the_page(
    history, tenant_a, client_as, locale, shown
):
    admin, _ = history
    tenant_a.locale = locale
    tenant_a.save(update_fields=["locale"])
    before, after = ("95.0000", "110.50") if locale == "fr_FR" else ("1250.0000", "133.3333")
    AuditEntryFactory(
        tenant=tenant_a,
        action=Action.UPDATE,
        object_type=ObjectType.RATE_RULE,
        object_label="Rate of Printers",
        before={"hourly_rate": before, "tickets": 12},
        after={"hourly_rate": after, "tickets": 13},
        created_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
    )
    page = client_as(admin).get(LOG, {"object_type": "rate_rule"}).content.decode()
    assert shown in page
    assert "12 → 13</li>" in page
