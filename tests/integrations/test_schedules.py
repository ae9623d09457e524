"""Push schedules: the day arithmetic, and accounting pushes waiting for their day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing_site.testing.factories import OrganizationFactory
from integrations.core import schedules, services
from integrations.core.models import Delivery, DeliveryStatus

from .conftest import draft, finalise

D = dt.date


@pytest.mark.parametrize("year", [2027, 2028])  # a common year, a leap year
def test_day_31_is_every_months_last_day(year):
    last_days = [schedules.send_date(D(year, month, 1), 31).day for month in range(1, 13)]
    february = 29 if year == 2028 else 28
    assert last_days == [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@pytest.mark.parametrize(
    ("year", "day", "expected"),
    [(2027, 29, 28), (2027, 30, 28), (2028, 29, 29), (2028, 30, 29), (2028, 28, 28)],
)
def test_days_29_and_30_in_february(year, day, expected):
    assert schedules.send_date(D(year, 2, 1), day) == D(year, 2, expected)


def test_a_period_is_due_from_its_day_and_stays_due():
    assert schedules.due_period(D(2027, 4, 29), 31) is None
    assert schedules.due_period(D(2027, 4, 30), 31) == D(2027, 4, 1)  # April's last day
    # A day missed (worker down) is still due later in the month.
    assert schedules.due_period(D(2027, 4, 30), 15) == D(2027, 4, 1)
    assert schedules.next_send(D(2027, 4, 30), 15) == D(2027, 5, 15)
    assert schedules.next_send(D(2027, 1, 31), 31) == D(2027, 1, 31)
    assert schedules.next_send(D(2027, 2, 1), 31) == D(2027, 2, 28)
    assert schedules.next_send(D(2027, 12, 31), 1) == D(2028, 1, 1)


def test_the_day_is_the_tenants_while_utc_is_still_the_day_before():
    # 30 April 23:30 UTC is already 1 May in Auckland.
    now = dt.datetime(2027, 4, 30, 23, 30, tzinfo=dt.UTC)
    assert schedules.local_today("Pacific/Auckland", now) == D(2027, 5, 1)
    assert schedules.local_today("UTC", now) == D(2027, 4, 30)
    assert schedules.start_of_local_day(D(2027, 5, 1), "Pacific/Auckland") == dt.datetime(
        2027, 4, 30, 12, 0, tzinfo=dt.UTC
    )


def test_a_customers_own_day_or_off_overrides_the_connection():
    monthly = {"mode": "monthly", "day": 31}
    assert schedules.customer_day(**monthly, customer_mode=None, customer_day_value=None).day == 31
    assert schedules.customer_day(**monthly, customer_mode="custom", customer_day_value=5).day == 5
    off = schedules.customer_day(**monthly, customer_mode="off", customer_day_value=5)
    assert (off.day, off.source) == (None, "off")
    on_finalise = schedules.customer_day(
        mode="on_finalise", day=None, customer_mode="global", customer_day_value=None
    )
    assert (on_finalise.day, on_finalise.source) == (None, "on finalise")


@pytest.mark.django_db
def test_monthly_accounting_pushes_wait_for_each_customers_day(
    quickbooks, fake_qbo, in_tenant_a, time_machine, django_capture_on_commit_callbacks
):
    # Tenant A is in Europe/Paris; 10 April 2027, 10:00 there.
    time_machine.move_to(dt.datetime(2027, 4, 10, 8, 0, tzinfo=dt.UTC), tick=False)
    services.connection_schedule_set(connection=quickbooks, schedule="monthly", day=31)
    early = OrganizationFactory(tenant=in_tenant_a, name="Early Ltd")
    silent = OrganizationFactory(tenant=in_tenant_a, name="Silent Ltd")
    services.customer_schedule_set(connection=quickbooks, organization=early, mode="custom", day=5)
    services.customer_schedule_set(connection=quickbooks, organization=silent, mode="off")
    usual = draft(in_tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        finals = finalise(
            usual, draft(in_tenant_a, organization=early), draft(in_tenant_a, organization=silent)
        )
    rows = {d.invoice.organization_id: d for d in Delivery.objects.select_related("invoice")}
    assert silent.pk not in rows  # off: nothing is sent
    # The connection's day: 30 April (31 clamped), from midnight in Paris.
    assert rows[usual.organization_id].next_attempt_at == dt.datetime(
        2027, 4, 29, 22, 0, tzinfo=dt.UTC
    )
    # Early's own day, the 5th, has passed this month: 5 May.
    assert rows[early.pk].next_attempt_at == dt.datetime(2027, 5, 4, 22, 0, tzinfo=dt.UTC)
    assert fake_qbo.invoices() == []
    # 30 April in Paris: the sweep sends the usual customer's invoice, once.
    time_machine.move_to(dt.datetime(2027, 4, 29, 22, 0, 1, tzinfo=dt.UTC), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_due()
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_due()
    assert [i["DocNumber"] for i in fake_qbo.invoices()] == [finals[0].number]
    # Back to "when finalised": what waits is sent at once.
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_schedule_set(connection=quickbooks, schedule="on_finalise")
    assert Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 2


@pytest.mark.django_db
def test_schedule_values_are_checked(quickbooks, in_tenant_a):
    with pytest.raises(ValidationError, match="day of the month"):
        services.connection_schedule_set(connection=quickbooks, schedule="monthly")
    with pytest.raises(ValidationError, match="from 1 to 31"):
        services.connection_schedule_set(connection=quickbooks, schedule="monthly", day=32)
    with pytest.raises(ValidationError, match="whole number"):
        services.connection_schedule_set(connection=quickbooks, schedule="monthly", day="x")
    with pytest.raises(ValidationError, match="Choose"):
        services.connection_schedule_set(connection=quickbooks, schedule="weekly", day=3)
    org = OrganizationFactory(tenant=in_tenant_a)
    with pytest.raises(ValidationError, match="day of the month"):
        services.customer_schedule_set(connection=quickbooks, organization=org, mode="custom")


@pytest.mark.django_db
def test_schedules_through_the_pages_and_the_api(
    quickbooks, in_tenant_a, staff_a, client_as, api_as, time_machine
):
    from django.urls import reverse

    from billing_site.roles import Role

    time_machine.move_to(dt.datetime(2027, 4, 10, 8, 0, tzinfo=dt.UTC), tick=False)
    owner = client_as(staff_a.user(Role.OWNER))
    owner.post(
        reverse("integrations:connection-schedule", args=[quickbooks.pk]),
        {"schedule": "monthly", "schedule_day": "31"},
    )
    page = owner.get(reverse("integrations:connections")).content.decode()
    assert "Next: 30 Apr 2027" in page
    refused = owner.post(
        reverse("integrations:connection-schedule", args=[quickbooks.pk]),
        {"schedule": "monthly", "schedule_day": "0"},
        follow=True,
    )
    assert "from 1 to 31" in refused.content.decode()

    org = OrganizationFactory(tenant=in_tenant_a, name="Own Day Ltd")
    customer = reverse("customer-detail", args=[org.pk])
    assert "Monthly on day 31" in owner.get(customer).content.decode()
    owner.post(
        reverse("integrations:customer-schedule", args=[org.pk]),
        {"connection": quickbooks.pk, "mode": "custom", "day": "5"},
    )
    body = owner.get(customer).content.decode()
    assert "Monthly on day 5 (this customer's own day) · next 5 May 2027" in body

    api = api_as(staff_a.user(Role.OWNER))
    answer = api.post(
        f"/api/v1/integrations/connections/{quickbooks.pk}/schedule/",
        {"schedule": "monthly", "schedule_day": 15},
    )
    assert answer.status_code == 200 and answer.json()["next_run"] == "2027-04-15"
    bad = api.post(
        f"/api/v1/integrations/connections/{quickbooks.pk}/schedule/", {"schedule": "weekly"}
    )
    assert bad.status_code == 400 and "schedule" in bad.json()
    off = api.post(
        "/api/v1/integrations/customer-schedules/",
        {"connection": quickbooks.pk, "organization": org.pk, "mode": "off"},
    )
    assert off.status_code == 201, off.json()
    assert off.json()["mode"] == "off"
    listed = api.get("/api/v1/integrations/customer-schedules/").json()
    assert [(r["organization"], r["mode"]) for r in listed["results"]] == [(org.pk, "off")]
    # Billing staff see it; only the owner changes it.
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    assert "Change" not in admin.get(customer).content.decode()
    assert (
        admin.post(
            reverse("integrations:customer-schedule", args=[org.pk]),
            {"connection": quickbooks.pk, "mode": "off"},
        ).status_code
        == 403
    )


@pytest.mark.django_db
def test_an_invoice_voided_while_waiting_for_its_day_is_never_sent(
    quickbooks, fake_qbo, in_tenant_a, time_machine, django_capture_on_commit_callbacks
):
    from invoices.services import invoice_void

    time_machine.move_to(dt.datetime(2027, 4, 10, 8, 0, tzinfo=dt.UTC), tick=False)
    services.connection_schedule_set(connection=quickbooks, schedule="monthly", day=31)
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
        invoice_void(invoice=invoice, reason="Wrong customer")
    push = Delivery.objects.get(invoice=invoice)  # no void delivery: nothing to void there
    assert push.status == DeliveryStatus.DONE and "not sent" in push.summary
    time_machine.move_to(dt.datetime(2027, 4, 30, 8, 0, tzinfo=dt.UTC), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.deliveries_due() == []
    assert fake_qbo.invoices() == []


@pytest.mark.django_db
def test_another_tenants_connection_or_customer_is_not_accepted(
    quickbooks, in_tenant_a, tenant_b, staff_a, api_as, client_as
):
    from django.urls import reverse

    from billing_site.roles import Role
    from billing_site.tenancy import tenant_context
    from integrations.core.models import CustomerSchedule

    mine = OrganizationFactory(tenant=in_tenant_a)
    theirs = OrganizationFactory(tenant=tenant_b)
    api = api_as(staff_a.user(Role.OWNER))
    answer = api.post(
        "/api/v1/integrations/customer-schedules/",
        {"connection": quickbooks.pk, "organization": theirs.pk, "mode": "off"},
    )
    assert answer.status_code == 400 and "organization" in answer.json()
    with tenant_context(tenant_b):
        from tests.integrations.factories import ConnectionFactory

        other = ConnectionFactory(tenant=tenant_b)
    answer = api.post(
        "/api/v1/integrations/customer-schedules/",
        {"connection": other.pk, "organization": mine.pk, "mode": "off"},
    )
    assert answer.status_code == 400 and "connection" in answer.json()
    page = client_as(staff_a.user(Role.OWNER)).post(
        reverse("integrations:customer-schedule", args=[mine.pk]),
        {"connection": other.pk, "mode": "off"},
        follow=True,
    )
    assert "Choose the connection" in page.content.decode()
    assert not CustomerSchedule.all_tenants.exists()
