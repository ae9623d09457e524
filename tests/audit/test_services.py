"""Each billing change is recorded once, in its transaction, with who, when and the
changed fields before and after (Decimals as strings). Tenant B's rows exist in every
test and must never be touched or shown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Action, AuditEntry, ObjectType
from audit.services import label_of
from billing_site import services as core_services
from billing_site.api.tokens import token_issue, token_revoke
from billing_site.celery import app as celery_app
from billing_site.roles import Role
from billing_site.tenancy import actor_context, tenant_context
from billing_site.testing.factories import MembershipFactory, OrganizationFactory
from billing_site.two_factor import two_factor_remove
from contracts import services as contracts
from contracts.choices import TimeEntryState
from integrations.core import ledger
from integrations.core import services as integrations
from integrations.core.models import MappingKind, Provider
from invoices import services as invoices
from invoices.models import CreditDisposition, InvoiceStatus
from portal import services as portal
from tests.contracts.factories import ContractFactory, TicketFactory, TimeEntryFactory
from tests.integrations.factories import ConnectionFactory
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

from .factories import AuditEntryFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 16, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def other_tenant_entry(tenant_b):
    """Tenant B has history of its own; A's services never touch or show it."""
    return AuditEntryFactory(tenant=tenant_b, object_label="B's contract")


@pytest.fixture
def admin(in_tenant_a, admin_a):
    with actor_context(admin_a):
        yield admin_a


def entries(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def only(**filters) -> AuditEntry:
    found = entries(**filters)
    assert len(found) == 1, found
    return found[0]


def test_contract_terms_are_recorded_with_the_changed_fields_only(admin, tenant_a):
    customer = OrganizationFactory(tenant=tenant_a, name="ACME")
    with time_machine.travel(NOW, tick=False):
        contract = contracts.contract_create(
            customer=customer, name="Support", start_date=dt.date(2026, 1, 1), tax_rate=None
        )
    created = only(object_type=ObjectType.CONTRACT, action=Action.CREATE)
    assert created.object_id == contract.pk
    assert created.object_label == "ACME · Support"
    assert (created.actor_id, created.actor_name) == (admin.pk, label_of(admin))
    assert created.created_at == NOW
    assert created.before is None
    assert created.after["customer"] == {"id": customer.pk, "label": "ACME"}
    assert created.after["start_date"] == "2026-01-01"

    contracts.contract_update(
        contract=contract,
        rounding_increment_minutes=15,
        notes="Monthly review",
        name="Support",  # unchanged: not listed
    )
    changed = only(object_type=ObjectType.CONTRACT, action=Action.UPDATE)
    assert changed.before == {"rounding_increment_minutes": 0, "notes": ""}
    assert changed.after == {"rounding_increment_minutes": 15, "notes": "Monthly review"}

    contracts.contract_update(contract=contract, name="Support")  # changes nothing
    assert len(entries(object_type=ObjectType.CONTRACT, action=Action.UPDATE)) == 1


def test_a_refused_change_records_nothing(admin, tenant_a):
    contract = ContractFactory(tenant=tenant_a)
    with pytest.raises(ValidationError):
        contracts.contract_update(contract=contract, anchor_day=40)
    assert entries(object_type=ObjectType.CONTRACT) == []


def test_rate_rules_show_their_rate_as_a_string_and_belong_to_their_contract(admin, tenant_a):
    contract = ContractFactory(tenant=tenant_a)
    rule = contracts.rate_rule_create(rate=Decimal("95.50"), contract=contract)
    contracts.rate_rule_update(rule=rule, rate=Decimal("99.0000"))
    contracts.rate_rule_delete(rule=rule)
    created, changed, deleted = entries(object_type=ObjectType.RATE_RULE)
    assert created.action == Action.CREATE and created.after["rate"] == "95.50"
    assert (changed.before, changed.after) == ({"rate": "95.5000"}, {"rate": "99.0000"})
    assert deleted.action == Action.DELETE and deleted.before["rate"] == "99.0000"
    assert deleted.after is None
    assert {(e.parent_type, e.parent_id) for e in (created, changed, deleted)} == {
        ("contract", str(contract.pk))
    }


def test_product_lines_and_blocks_are_contract_terms(admin, tenant_a):
    from tests.contracts.factories import ProductFactory

    recurring = ContractFactory(tenant=tenant_a, recurring=True)
    product = ProductFactory(tenant=tenant_a, sku="BACKUP")
    line = contracts.contract_product_line_add(
        contract=recurring, product=product, quantity=Decimal("3")
    )
    contracts.contract_product_line_update(line=line, quantity=Decimal("5"))
    contracts.contract_product_line_remove(line=line)
    added, changed, removed = entries(object_type=ObjectType.CONTRACT_LINE)
    assert added.after["quantity"] == "3"
    assert (changed.before, changed.after) == ({"quantity": "3.0000"}, {"quantity": "5"})
    assert removed.action == Action.DELETE and removed.parent_id == str(recurring.pk)

    block = ContractFactory(tenant=tenant_a, block=True)
    purchase = contracts.block_purchase_create(
        contract=block, purchased_on=dt.date(2026, 2, 1), hours=Decimal("10"), price=Decimal("800")
    )
    contracts.block_purchase_delete(purchase=purchase)
    bought, deleted = entries(object_type=ObjectType.BLOCK_PURCHASE)
    assert bought.after["price"] == "800" and Decimal(deleted.before["hours"]) == 10


def _entries(tenant, count, state=TimeEntryState.SUBMITTED):
    contract = ContractFactory(tenant=tenant)
    ticket = TicketFactory(tenant=tenant, contract=contract, organization=contract.customer)
    return [TimeEntryFactory(tenant=tenant, ticket=ticket, state=state) for _ in range(count)]


def test_approving_and_posting_record_one_entry_per_row_in_one_insert(admin, tenant_a):
    def approve(count) -> int:
        rows = _entries(tenant_a, count)
        with CaptureQueriesContext(connection) as queries:
            contracts.time_entries_approve(entry_ids=[r.pk for r in rows], actor=admin)
        inserts = [q for q in queries.captured_queries if "audit_auditentry" in q["sql"]]
        assert len(inserts) == 1 and inserts[0]["sql"].lstrip().upper().count("INSERT") == 1
        return len(queries.captured_queries)

    # The same statements for 2 entries as for 30: the log adds one insert, not one per row.
    assert approve(2) == approve(30)
    approved = entries(object_type=ObjectType.TIME_ENTRY, action=Action.APPROVE)
    assert len(approved) == 32
    first = approved[0]
    assert first.before == {"state": "submitted"}
    assert first.after["state"] == "approved"
    assert first.after["approved_by"] == {"id": admin.pk, "label": label_of(admin)}
    assert first.parent_type == "contract"

    posted_rows = [r.pk for r in _entries(tenant_a, 3, state=TimeEntryState.APPROVED)]
    contracts.time_entries_post(entry_ids=posted_rows, actor=admin)
    posted = entries(object_type=ObjectType.TIME_ENTRY, action=Action.POST)
    assert sorted(e.object_id for e in posted) == sorted(posted_rows)
    assert {e.before["state"] for e in posted} == {"approved"}


def _drafts(tenant, count):
    drafts = []
    for _ in range(count):
        draft = InvoiceFactory(tenant=tenant, draft=True)
        InvoiceLineFactory(tenant=tenant, invoice=draft)
        drafts.append(draft)
    return drafts


def test_finalising_a_set_records_every_invoice_with_one_insert(admin, tenant_a):
    def finalize(count) -> int:
        drafts = _drafts(tenant_a, count)
        with CaptureQueriesContext(connection) as queries:
            invoices.invoices_finalize(invoices=drafts)
        audit_sql = [q for q in queries.captured_queries if "audit_auditentry" in q["sql"]]
        assert len(audit_sql) == 1
        return len(queries.captured_queries)

    finalize(1)  # the year's counter row is made once
    assert finalize(2) == finalize(25)
    finals = entries(object_type=ObjectType.INVOICE, action=Action.FINALIZE)
    assert len(finals) == 28
    entry = finals[0]
    assert entry.before == {"status": "draft"}
    assert entry.after["status"] == "final"
    assert entry.after["number"].startswith("INV-")
    assert entry.after["total"] == "100.00" and entry.after["currency"] == "EUR"
    assert entry.object_label.startswith(f"{entry.after['number']} · ")


def test_void_credit_note_and_payments(admin, tenant_a):
    voided = InvoiceFactory(tenant=tenant_a, status=InvoiceStatus.SENT)
    invoices.invoice_void(invoice=voided, reason="Wrong customer")
    void = only(action=Action.VOID)
    assert void.before == {"status": "sent", "voided_at": None, "void_reason": ""}
    assert void.after["status"] == "void" and void.after["void_reason"] == "Wrong customer"

    invoice = InvoiceFactory(tenant=tenant_a, status=InvoiceStatus.SENT, total=Decimal("120.50"))
    InvoiceLineFactory(
        tenant=tenant_a, invoice=invoice, unit_price=Decimal("120.5000"), amount=Decimal("120.50")
    )
    payment = invoices.payment_record(
        invoice=invoice,
        amount="20.50",
        received_on=dt.date(2026, 3, 15),
        method="bank_transfer",
        reference="TRX-1",
    )
    paid = only(object_type=ObjectType.PAYMENT, action=Action.CREATE)
    assert paid.after == {
        "amount": "20.50",
        "received_on": "2026-03-15",
        "method": "bank_transfer",
        "reference": "TRX-1",
        "invoice_status": "partially_paid",
    }
    assert paid.before == {"invoice_status": "sent"}
    assert (paid.parent_type, paid.parent_id) == ("invoice", str(invoice.pk))
    invoices.payment_delete(payment=payment)
    removed = only(object_type=ObjectType.PAYMENT, action=Action.DELETE)
    assert removed.object_id == payment.pk and Decimal(removed.before["amount"]) == Decimal("20.50")
    assert removed.after == {"invoice_status": "sent"}

    note = invoices.credit_note_create(
        invoice=invoice, reason="Goodwill", credit_disposition=CreditDisposition.WRITE_OFF
    )
    credit = only(action=Action.CREDIT)
    assert credit.object_id == invoice.pk
    assert credit.after["credit_note"] == {
        "id": note.pk,
        "label": credit.after["credit_note"]["label"],
    }
    assert credit.after["credit_note"]["label"].startswith("Credit note CN-")
    assert credit.after["credit_total"] == str(note.total)
    assert credit.after["credit_disposition"] == "write_off"
    # The note itself is finalised, and that is recorded too.
    assert only(action=Action.FINALIZE, object_id=note.pk).after["number"] == note.number


def test_a_task_is_recorded_as_the_system_with_its_name(in_tenant_a, tenant_a, admin_a):
    invoice = InvoiceFactory(tenant=tenant_a, status=InvoiceStatus.SENT)

    @celery_app.task(name="tests.audit.record_bank_payment_task")
    def record_bank_payment_task(invoice_id):
        from django.db import transaction

        with transaction.atomic():
            invoices.payment_record(
                invoice=invoice.__class__.objects.get(pk=invoice_id),
                amount="10.00",
                received_on=dt.date(2026, 3, 1),
                method="bank_transfer",
            )

    # Eager, from inside a request's actor: a task still acts as the system.
    with actor_context(admin_a):
        record_bank_payment_task.delay(invoice.pk)
    entry = only(object_type=ObjectType.PAYMENT)
    assert entry.actor_id is None and entry.is_system
    assert entry.actor_name == "system: record_bank_payment_task"


def test_integration_settings(admin, tenant_a):
    connection_ = ConnectionFactory(tenant=tenant_a, auto_export=True)
    integrations.connection_update(connection=connection_, auto_export=False)
    integrations.connection_schedule_set(connection=connection_, schedule="monthly", day=31)
    customer = OrganizationFactory(tenant=tenant_a, name="ACME")
    integrations.customer_schedule_set(
        connection=connection_, organization=customer, mode="custom", day=5
    )
    integrations.customer_schedule_set(
        connection=connection_, organization=customer, mode="off", day=None
    )
    integrations.connection_disconnect(connection=connection_)
    auto, schedule, disconnect = entries(object_type=ObjectType.CONNECTION)
    assert (auto.before, auto.after) == ({"auto_export": True}, {"auto_export": False})
    assert schedule.after == {"schedule": "monthly", "schedule_day": 31}
    assert disconnect.action == Action.DISCONNECT
    assert disconnect.after == {"status": "disconnected", "tokens": "erased"}
    assert "token" not in str(auto.after) and "refresh" not in str(disconnect.before)
    custom, off = entries(object_type=ObjectType.SCHEDULE)
    assert custom.action == Action.CREATE and custom.after == {"mode": "custom", "day": 5}
    assert (off.before, off.after) == ({"mode": "custom", "day": 5}, {"mode": "off", "day": None})
    assert off.object_label == f"ACME on {connection_}"

    ledger.mapping_set(
        system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20", external_id="7"
    )
    ledger.mapping_set(
        system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20", external_id="7"
    )  # the same again: nothing changed, nothing recorded
    ledger.mapping_set(
        system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20", external_id="9"
    )
    ledger.mapping_set(system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20")
    made, changed, removed = entries(object_type=ObjectType.MAPPING)
    assert made.action == Action.CREATE and made.after["external_id"] == "7"
    assert (changed.before, changed.after) == ({"external_id": "7"}, {"external_id": "9"})
    assert removed.action == Action.DELETE
    assert {(e.parent_type, e.parent_id) for e in (made, changed, removed)} == {
        ("provider", "quickbooks")
    }


def test_users_roles_two_factor_requirement_and_tokens(admin, tenant_a, tenant_b, staff_a):
    membership = core_services.staff_user_add(
        tenant=tenant_a,
        username="nora",
        email="nora@example.com",
        password="A-long-enough-passphrase-42",
        role=Role.ACCOUNTANT,
    )
    added = only(object_type=ObjectType.USER, action=Action.CREATE)
    assert added.object_id == membership.user_id
    assert added.after == {"username": "nora", "email": "nora@example.com", "role": "accountant"}

    # As the settings page does it: the form has set the field on the instance already.
    settings_form_instance = type(tenant_a).objects.get(pk=tenant_a.pk)
    settings_form_instance.require_two_factor = True
    core_services.tenant_update(tenant=settings_form_instance)
    required = only(object_type=ObjectType.TENANT)
    assert (required.before, required.after) == (
        {"require_two_factor": False},
        {"require_two_factor": True},
    )

    # A login's own events go to every company where it is staff.
    MembershipFactory(user=membership.user, tenant=tenant_b, role=Role.TECHNICIAN)
    with actor_context(None):  # signing in for a token: the login acts on itself
        token_issue(user=membership.user)
    token_revoke(user=membership.user)
    two_factor_remove(user=membership.user)
    issued = only(action=Action.TOKEN_CREATE)
    assert issued.actor_id == membership.user_id
    assert issued.after["replaced_one"] is False and issued.after["expires_at"].endswith("+00:00")
    assert only(action=Action.TOKEN_REVOKE).actor_id == admin.pk
    assert only(action=Action.TWO_FACTOR_OFF).object_id == membership.user_id
    with tenant_context(tenant_b):
        assert {e.action for e in AuditEntry.objects.filter(object_type=ObjectType.USER)} == {
            Action.TOKEN_CREATE,
            Action.TOKEN_REVOKE,
            Action.TWO_FACTOR_OFF,
        }


def test_portal_invitations_and_revocations_show_on_the_customer(admin, tenant_a, mailoutbox):
    from billing_site.testing.factories import ContactFactory

    customer = OrganizationFactory(tenant=tenant_a, name="ACME")
    contact = ContactFactory(
        tenant=tenant_a, organization=customer, name="Ann Lee", email="ann@acme.test"
    )
    membership = portal.portal_user_invite(
        tenant=tenant_a, contact=contact, base_url="http://testserver"
    )
    portal.portal_user_revoke(tenant=tenant_a, membership_id=membership.pk)
    invited, revoked = entries(object_type=ObjectType.USER)
    assert invited.action == Action.INVITE
    assert invited.after["organization"] == {"id": customer.pk, "label": "ACME"}
    assert revoked.action == Action.REVOKE and revoked.before["role"] == "portal"
    assert {(e.parent_type, e.parent_id) for e in (invited, revoked)} == {
        ("customer", str(customer.pk))
    }


def test_customers_are_recorded(admin, tenant_a):
    customer = core_services.organization_create(name="ACME", company_number="C-1")
    core_services.organization_update(organization=customer, tax_rate=Decimal("0"))
    created, changed = entries(object_type=ObjectType.CUSTOMER)
    assert created.after["company_number"] == "C-1"
    assert (changed.before, changed.after) == ({"tax_rate": None}, {"tax_rate": "0"})


def test_nothing_of_another_tenant_is_read(admin, tenant_a, other_tenant_entry):
    ContractFactory(tenant=tenant_a)
    assert other_tenant_entry.pk not in {e.pk for e in AuditEntry.objects.all()}


def test_a_role_change_is_recorded(admin, tenant_a, staff_a):
    technician = staff_a.user(Role.TECHNICIAN)
    membership = technician.memberships.get(tenant=tenant_a)
    core_services.membership_role_set(membership=membership, role=Role.BILLING_ADMIN)
    core_services.membership_role_set(membership=membership, role=Role.BILLING_ADMIN)  # no-op
    changed = only(action=Action.ROLE_CHANGE)
    assert (changed.object_id, changed.actor_id) == (technician.pk, admin.pk)
    assert (changed.before, changed.after) == ({"role": "technician"}, {"role": "billing_admin"})
    with pytest.raises(ValidationError):
        core_services.membership_role_set(membership=membership, role=Role.PORTAL)
    assert len(entries(action=Action.ROLE_CHANGE)) == 1


def test_a_role_changed_in_the_admin_goes_through_the_service(tenant_a, staff_a, client):
    from billing_site.testing.factories import UserFactory

    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    membership = staff_a.user(Role.TECHNICIAN).memberships.get(tenant=tenant_a)
    client.force_login(superuser)
    response = client.post(
        f"/admin/billing_site/membership/{membership.pk}/change/",
        {"user": membership.user_id, "tenant": tenant_a.pk, "role": Role.ACCOUNTANT},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    with tenant_context(tenant_a):
        changed = only(action=Action.ROLE_CHANGE)
    assert changed.after == {"role": "accountant"} and changed.actor_id == superuser.pk


def test_the_teamviewer_connection_is_recorded_without_its_token(admin, tenant_a, settings):
    from cryptography.fernet import Fernet

    from sessions import services as sessions

    settings.INTEGRATIONS_KEYS = [Fernet.generate_key().decode()]
    token = "12345678-AbCdEfGhIjKlMnOpQrSt"
    sessions.teamviewer_connection_save(actor=admin, token=token)
    sessions.teamviewer_connection_save(actor=admin, group_id="g123")
    sessions.teamviewer_connection_save(actor=admin, group_id="g123")  # nothing changed
    sessions.teamviewer_connection_delete()
    created, grouped, removed = entries(object_type=ObjectType.CONNECTION)
    assert created.action == Action.CONNECT and created.object_label == "TeamViewer"
    assert created.after == {"token_last4": "QrSt", "token": "replaced"}
    assert (grouped.action, grouped.before, grouped.after) == (
        Action.UPDATE,
        {"group_id": ""},
        {"group_id": "g123"},
    )
    assert removed.action == Action.DISCONNECT
    assert removed.before == {"group_id": "g123", "token_last4": "QrSt"}
    assert all(token not in str(e.before) + str(e.after) for e in (created, grouped, removed))
    assert {e.actor_id for e in (created, grouped, removed)} == {admin.pk}
