"""Invoice services: numbering, finalise, void, delete, and invoices from sessions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction

from billing_site.models import TenantSequence
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import services
from invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind, PdfStatus
from sessions.models import RemoteSession

from .conftest import make_host, make_session
from .factories import InvoiceFactory, InvoiceLineFactory, PaymentFactory


def draft_with_line(tenant, **kwargs):
    invoice = InvoiceFactory(tenant=tenant, draft=True, **kwargs)
    InvoiceLineFactory(tenant=tenant, invoice=invoice, unit_price=Decimal("80.0000"))
    return invoice


def finalize(invoice):
    with transaction.atomic():
        return services.invoice_finalize(invoice=invoice)


def billed_line_ids(*sessions):
    return [RemoteSession.all_tenants.get(pk=session.pk).invoice_line_id for session in sessions]


# --- Numbering -------------------------------------------------------------------------


def test_numbers_are_gapless_per_tenant_and_start_at_one(tenant_a, tenant_b):
    tenant_b.invoice_prefix = "FAK-"
    tenant_b.save()
    numbers = {}
    for tenant in (tenant_a, tenant_b, tenant_a, tenant_a, tenant_b):
        with tenant_context(tenant):
            invoice = finalize(draft_with_line(tenant))
            numbers.setdefault(tenant.slug, []).append(invoice.number)
    assert numbers == {
        "alpha": ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"],
        "bravo": ["FAK-2026-00001", "FAK-2026-00002"],
    }


def test_finalize_sets_dates_in_the_tenant_zone_and_totals(tenant_a, tenant_b, frozen_now):
    tenant_a.time_zone = "Pacific/Kiritimati"  # UTC+14: already 21 March there
    tenant_a.default_payment_terms_days = 30
    tenant_a.save()
    invoice = draft_with_line(tenant_a, payment_terms_days=14)
    with tenant_context(tenant_a):
        invoice = finalize(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINAL
    assert invoice.issue_date == dt.date(2026, 3, 21)
    assert invoice.due_date == dt.date(2026, 4, 4)
    assert invoice.finalized_at is not None
    assert invoice.total == Decimal("80.000")
    assert invoice.pdf_status == PdfStatus.PENDING


def test_a_rolled_back_finalisation_gives_its_number_back(tenant_a, tenant_b):
    first, second = draft_with_line(tenant_a), draft_with_line(tenant_a)
    with tenant_context(tenant_a):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.invoice_finalize(invoice=first)
            raise RuntimeError("payment provider down")
        first.refresh_from_db()
        assert first.status == InvoiceStatus.DRAFT and first.number is None
        assert finalize(second).number == "INV-2026-00001"
        assert finalize(first).number == "INV-2026-00002"


def test_numbers_restart_each_year(tenant_a, tenant_b, frozen_now):
    with tenant_context(tenant_a):
        assert finalize(draft_with_line(tenant_a)).number == "INV-2026-00001"
        frozen_now.move_to(dt.datetime(2027, 1, 1, 9, 0, tzinfo=dt.UTC))
        assert finalize(draft_with_line(tenant_a)).number == "INV-2027-00001"
        assert TenantSequence.objects.filter(key__startswith="invoice-").count() == 2


def test_finalize_refuses_empty_and_non_draft_invoices(tenant_a, tenant_b):
    empty = InvoiceFactory(tenant=tenant_a, draft=True)
    final = InvoiceFactory(tenant=tenant_a)
    with tenant_context(tenant_a):
        with pytest.raises(ValidationError) as error:
            finalize(empty)
        assert "lines" in error.value.message_dict
        with pytest.raises(ValidationError) as error:
            finalize(final)
        assert "status" in error.value.message_dict
        assert not TenantSequence.objects.exists()


def test_finalize_cannot_reach_another_tenants_invoice(tenant_a, tenant_b):
    other = draft_with_line(tenant_b)
    with tenant_context(tenant_a), pytest.raises(ValidationError):
        finalize(other)
    other.refresh_from_db()
    assert other.status == InvoiceStatus.DRAFT


# --- Invoices from sessions ------------------------------------------------------------


def create(**kwargs):
    with transaction.atomic():
        return services.session_invoice_create(**kwargs)


def test_one_session(acme, acme_b, admin_a):
    with tenant_context(acme.tenant):
        invoice = create(scope="session", object_id=acme.jane_updates.pk, created_by=admin_a)
    invoice = Invoice.all_tenants.get(pk=invoice.pk)
    assert invoice.number == "INV-2026-00001"
    assert invoice.status == InvoiceStatus.FINAL
    assert invoice.source_scope == "session" and invoice.source_label == "Jane_OFFICE_121"
    assert invoice.organization == acme.organization
    assert invoice.bill_to_name == "ACME"
    # The bill-to snapshot is the organization's structured address.
    assert (invoice.bill_to_street, invoice.bill_to_postcode, invoice.bill_to_city) == (
        "5 avenue Foch",
        "69006",
        "Lyon",
    )
    assert invoice.bill_to_country == "FR"
    assert invoice.bill_to_tax_id == "FR11222333444"
    assert invoice.seller_name == acme.tenant.company_name
    assert invoice.currency == "EUR"
    assert invoice.total == Decimal("16.670")  # 0.1667 h x 100.00
    assert invoice.created_by == admin_a
    (line,) = InvoiceLine.all_tenants.filter(invoice=invoice)
    assert line.kind == LineKind.SESSION
    assert line.group_label == "Jane_OFFICE_121"
    assert line.description == "Installed Windows updates."
    assert (line.quantity, line.unit_price, line.amount) == (
        Decimal("0.1667"),
        Decimal("100.0000"),
        Decimal("16.670"),
    )
    assert line.worked_seconds == 600
    assert line.started_at == acme.jane_updates.started_at
    assert "tenant default rate" in line.words.explanation
    assert billed_line_ids(acme.jane_updates) == [line.pk]
    assert billed_line_ids(acme.jane_backup) == [None]


def test_a_host_in_a_date_range(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="host", object_id=acme.jane.pk, **acme.march)
    lines = list(InvoiceLine.all_tenants.filter(invoice=invoice).order_by("position"))
    assert [line.description for line in lines] == [
        "Installed Windows updates.",
        "Checked the backup job.",
    ]
    assert sum(line.worked_seconds for line in lines) == 918  # 15 min 18 s
    assert [line.amount for line in lines] == [Decimal("16.670"), Decimal("8.830")]
    invoice.refresh_from_db()
    assert invoice.total == Decimal("25.500")
    assert (invoice.period_start, invoice.period_end) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    # Running and non-billable sessions stay unbilled; tenant B's twin ACME too.
    assert billed_line_ids(acme.others["running"], acme.others["internal"]) == [None, None]
    assert not RemoteSession.all_tenants.filter(
        tenant=acme_b.tenant, invoice_line__isnull=False
    ).exists()


def test_a_group_bills_every_host_ordered_by_host(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="group", object_id=acme.group.pk, **acme.march)
    lines = list(InvoiceLine.all_tenants.filter(invoice=invoice).order_by("position"))
    assert [(line.group_label, line.worked_seconds) for line in lines] == [
        ("Jane_OFFICE_121", 600),
        ("Jane_OFFICE_121", 318),
        ("Joseph_OFFICE_121", 2712),
    ]
    invoice.refresh_from_db()
    assert invoice.total == Decimal("100.830")
    assert invoice.bill_to_name == "ACME"
    assert billed_line_ids(acme.others["april"]) == [None]


def test_without_a_date_range_every_unbilled_session_is_billed(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="group", object_id=acme.group.pk)
    invoice.refresh_from_db()
    assert InvoiceLine.all_tenants.filter(invoice=invoice).count() == 4
    assert (invoice.period_start, invoice.period_end) == (dt.date(2026, 3, 2), dt.date(2026, 4, 2))


def test_edited_amount_due_adds_an_adjustment_line(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="host", object_id=acme.jane.pk, amount_due="20.00", **acme.march)
    invoice.refresh_from_db()
    lines = list(InvoiceLine.all_tenants.filter(invoice=invoice).order_by("position"))
    adjustment = lines[-1]
    assert adjustment.kind == LineKind.ADJUSTMENT
    assert adjustment.amount == Decimal("-5.500")
    assert "Suggested €25.50" in adjustment.words.explanation
    assert "amount due set to €20.00" in adjustment.words.explanation
    assert invoice.total == Decimal("20.000")
    assert sum(line.amount for line in lines) == invoice.total


def test_amount_due_equal_to_the_suggestion_adds_nothing(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="host", object_id=acme.jane.pk, amount_due=Decimal("25.5"))
    assert not InvoiceLine.all_tenants.filter(invoice=invoice, kind=LineKind.ADJUSTMENT).exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [("-1", "negative"), ("10.005", "2 decimal place"), ("ten", "amount such as")],
)
def test_bad_amount_due_saves_nothing(acme, acme_b, amount, message):
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        create(scope="host", object_id=acme.jane.pk, amount_due=amount)
    assert message in error.value.message_dict["amount_due"][0]
    assert not Invoice.all_tenants.exists()
    assert billed_line_ids(acme.jane_updates) == [None]
    assert not TenantSequence.all_tenants.exists()


def test_details_are_editable_for_this_invoice(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(
            scope="group",
            object_id=acme.group.pk,
            seller_name="Alpha IT (Lyon branch)",
            seller_email="lyon@alpha.example",
            bill_to_name="ACME Holding",
            bill_to_street="",
            bill_to_city="Villeurbanne",
            bill_to_country="fr",
            bill_to_phone="+33 4 00 00 00 00",
            payment_terms_days=10,
            notes="PO 4711",
        )
    invoice.refresh_from_db()
    assert invoice.seller_name == "Alpha IT (Lyon branch)"
    assert invoice.seller_street == acme.tenant.street  # not given: tenant default
    assert invoice.seller_city == acme.tenant.city
    assert invoice.bill_to_name == "ACME Holding"
    assert invoice.bill_to_street == ""
    assert invoice.bill_to_postcode == "69006"  # not given: the organization's
    assert (invoice.bill_to_city, invoice.bill_to_country) == ("Villeurbanne", "FR")
    assert invoice.bill_to_phone == "+33 4 00 00 00 00"
    assert invoice.notes == "PO 4711"
    assert invoice.due_date == invoice.issue_date + dt.timedelta(days=10)


def test_invalid_details_save_nothing(acme, acme_b):
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        create(scope="group", object_id=acme.group.pk, bill_to_name=" ", seller_email="nope")
    assert set(error.value.message_dict) >= {"bill_to_name", "seller_email"}
    assert not Invoice.all_tenants.exists()
    assert billed_line_ids(acme.jane_updates) == [None]


def test_billed_sessions_cannot_be_billed_again(acme, acme_b):
    with tenant_context(acme.tenant):
        create(scope="session", object_id=acme.jane_updates.pk)
        with pytest.raises(ValidationError) as error:
            create(scope="session", object_id=acme.jane_updates.pk)
        assert error.value.message_dict["sessions"] == ["This session is already billed."]
        # The host now bills only what is left.
        invoice = create(scope="host", object_id=acme.jane.pk, **acme.march)
    lines = InvoiceLine.all_tenants.filter(invoice=invoice)
    assert [line.description for line in lines] == ["Checked the backup job."]
    assert Invoice.all_tenants.count() == 2


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("running", "still running"),
        ("internal", "non-billable"),
    ],
)
def test_one_unbillable_session_says_why(acme, acme_b, key, reason):
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        create(scope="session", object_id=acme.others[key].pk)
    assert reason in error.value.message_dict["sessions"][0]


def test_a_session_logged_as_contract_time_is_never_billed_directly(acme, acme_b):
    from billing_site.testing.registry import build_for
    from contracts.models import TimeEntry

    entry = build_for(TimeEntry, acme.tenant)
    TimeEntry.all_tenants.filter(pk=entry.pk).update(remote_session=acme.jane_backup)
    with tenant_context(acme.tenant):
        with pytest.raises(ValidationError) as error:
            create(scope="session", object_id=acme.jane_backup.pk)
        assert "logged as contract time" in error.value.message_dict["sessions"][0]
        invoice = create(scope="host", object_id=acme.jane.pk, **acme.march)
    assert [line.description for line in InvoiceLine.all_tenants.filter(invoice=invoice)] == [
        "Installed Windows updates."
    ]
    assert billed_line_ids(acme.jane_backup) == [None]


def test_nothing_to_bill_in_the_range(acme, acme_b):
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        create(
            scope="group",
            object_id=acme.group.pk,
            date_from=dt.date(2025, 1, 1),
            date_to=dt.date(2025, 1, 31),
        )
    assert "no billable, unbilled sessions" in error.value.message_dict["sessions"][0]


def test_another_tenants_host_is_unknown(acme, acme_b):
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        create(scope="host", object_id=acme_b.jane.pk)
    assert "id" in error.value.message_dict
    assert not RemoteSession.all_tenants.filter(invoice_line__isnull=False).exists()


def test_bad_scope_and_range(acme, acme_b):
    with tenant_context(acme.tenant):
        with pytest.raises(ValidationError) as error:
            create(scope="planet", object_id=1)
        assert "scope" in error.value.message_dict
        with pytest.raises(ValidationError) as error:
            create(
                scope="host",
                object_id=acme.jane.pk,
                date_from=dt.date(2026, 3, 31),
                date_to=dt.date(2026, 3, 1),
            )
        assert "date_to" in error.value.message_dict


def test_a_changed_selection_is_refused(acme, acme_b):
    """The form lists what it will bill; if that changed meanwhile, nothing is saved."""
    with tenant_context(acme.tenant):
        expected = [acme.jane_updates.pk, acme.jane_backup.pk]
        create(scope="session", object_id=acme.jane_backup.pk)  # billed meanwhile
        with pytest.raises(ValidationError) as error:
            create(scope="host", object_id=acme.jane.pk, session_ids=expected, **acme.march)
        assert "billed meanwhile" in error.value.message_dict["sessions"][0]
        assert Invoice.objects.count() == 1
        invoice = create(
            scope="host", object_id=acme.jane.pk, session_ids=[acme.jane_updates.pk], **acme.march
        )
    assert invoice.number == "INV-2026-00002"


def test_bill_to_falls_back_to_the_hosts_organization_and_its_currency(tenant_a, tenant_b):
    customer = OrganizationFactory(tenant=tenant_a, name="Studio Verde", currency="EUR")
    host = make_host(tenant_a, "VERDE-PC", organization=customer)
    session = make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1800, "Set up VPN")
    with tenant_context(tenant_a):
        invoice = create(scope="host", object_id=host.pk)
    assert invoice.bill_to_name == "Studio Verde"
    assert invoice.total == Decimal("50.000")
    assert billed_line_ids(session)[0] is not None


def test_a_host_without_customer_bills_its_name(tenant_a, tenant_b):
    host = make_host(tenant_a, "LOOSE-LAPTOP")
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1800)
    with tenant_context(tenant_a):
        invoice = create(scope="host", object_id=host.pk)
    assert (invoice.bill_to_name, invoice.organization, invoice.currency) == (
        "LOOSE-LAPTOP",
        None,
        "EUR",
    )
    line = InvoiceLine.all_tenants.get(invoice=invoice)
    assert line.description == "Remote support session"


def test_a_customer_in_another_currency_is_refused_without_a_rate_in_it(tenant_a, tenant_b):
    customer = OrganizationFactory(tenant=tenant_a, name="Harbor", currency="USD")
    host = make_host(tenant_a, "HARBOR-01", organization=customer)
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1800)
    with tenant_context(tenant_a), pytest.raises(ValidationError) as error:
        create(scope="host", object_id=host.pk)
    assert "add a rate rule in USD" in error.value.message_dict["currency"][0]
    assert not Invoice.all_tenants.exists()


def test_rate_rules_price_session_invoices(tenant_a, tenant_b):
    from contracts.models import RateRule

    customer = OrganizationFactory(tenant=tenant_a, name="Harbor", currency="USD")
    host = make_host(tenant_a, "HARBOR-01", organization=customer)
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1800)
    # A rule in tenant B must never apply in tenant A.
    RateRule.all_tenants.create(tenant=tenant_b, rate=Decimal("999"), currency="USD")
    RateRule.all_tenants.create(
        tenant=tenant_a, organization=customer, rate=Decimal("150.0000"), currency="USD"
    )
    with tenant_context(tenant_a):
        invoice = create(scope="host", object_id=host.pk)
    line = InvoiceLine.all_tenants.get(invoice=invoice)
    assert (invoice.currency, line.unit_price, line.amount) == (
        "USD",
        Decimal("150.0000"),
        Decimal("75.000"),
    )
    # The rule is named by its description (else its scopes), not by an id.
    assert "rule “organization" in line.words.explanation
    assert "rule #" not in line.words.explanation


def test_jpy_tenant_rounds_to_whole_yen(tenant_b):
    from billing_site.testing.factories import TenantFactory

    tenant = TenantFactory(slug="tokyo", currency="JPY", default_hourly_rate=Decimal("9999"))
    host = make_host(tenant, "TOKYO-01")
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1000)  # 0.2778 h x 9999 = 2777.72
    with tenant_context(tenant):
        invoice = create(scope="host", object_id=host.pk)
    assert invoice.total == Decimal("2778")


# --- Void and delete -------------------------------------------------------------------


def test_void_releases_the_sessions(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="host", object_id=acme.jane.pk, **acme.march)
        with transaction.atomic():
            voided = services.invoice_void(invoice=invoice, reason="Wrong customer")
        assert voided.status == InvoiceStatus.VOID
        assert voided.void_reason == "Wrong customer"
        assert voided.voided_at is not None
        assert billed_line_ids(acme.jane_updates, acme.jane_backup) == [None, None]
        # Lines stay on the void invoice as a record; the sessions can be billed again.
        assert InvoiceLine.objects.filter(invoice=invoice).count() == 2
        again = create(scope="host", object_id=acme.jane.pk, **acme.march)
    assert again.number == "INV-2026-00002"
    assert again.total == Decimal("25.500")


def test_void_needs_a_reason_and_a_final_unpaid_invoice(acme, acme_b, tenant_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="host", object_id=acme.jane.pk)
        with pytest.raises(ValidationError) as error:
            services.invoice_void(invoice=invoice, reason="  ")
        assert "reason" in error.value.message_dict
        PaymentFactory(tenant=acme.tenant, invoice=invoice)
        with pytest.raises(ValidationError) as error:
            services.invoice_void(invoice=invoice, reason="Dispute")
        assert "has payments recorded" in error.value.message_dict["status"][0]
        draft = draft_with_line(acme.tenant)
        with pytest.raises(ValidationError) as error:
            services.invoice_void(invoice=draft, reason="x")
        assert "delete it" in error.value.message_dict["status"][0]
        assert billed_line_ids(acme.jane_updates) != [None]


def test_void_twice_is_refused(acme, acme_b):
    with tenant_context(acme.tenant):
        invoice = create(scope="session", object_id=acme.jane_updates.pk)
        services.invoice_void(invoice=invoice, reason="Duplicate")
        with pytest.raises(ValidationError) as error:
            services.invoice_void(invoice=invoice, reason="Again")
    assert "already void" in error.value.message_dict["status"][0]


def test_delete_draft_releases_its_items(acme, acme_b):
    with tenant_context(acme.tenant):
        draft = InvoiceFactory(tenant=acme.tenant, draft=True)
        line = InvoiceLineFactory(tenant=acme.tenant, invoice=draft, kind=LineKind.SESSION)
        RemoteSession.objects.filter(pk=acme.jane_updates.pk).update(invoice_line=line)
        assert services.invoice_delete_draft(invoice=draft) == 1
        assert not Invoice.objects.filter(pk=draft.pk).exists()
        assert billed_line_ids(acme.jane_updates) == [None]
        final = InvoiceFactory(tenant=acme.tenant)
        with pytest.raises(ValidationError) as error:
            services.invoice_delete_draft(invoice=final)
    assert "Only drafts" in error.value.message_dict["status"][0]


@time_machine.travel(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), tick=False)
def test_issue_date_and_number_year_follow_the_tenant_zone(tenant_a, tenant_b):
    # 23:30 UTC on 31 Dec is already 1 January 2027 in Paris.
    with tenant_context(tenant_a):
        invoice = finalize(draft_with_line(tenant_a))
    assert invoice.number == "INV-2027-00001"
    assert invoice.issue_date == dt.date(2027, 1, 1)
