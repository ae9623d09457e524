"""Session rules in the services: times, tenants, the one running timer, owners, billed."""

import datetime as dt
import inspect

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from billing_site.unset import UNSET
from sessions import services
from sessions.models import Host, HostGroup, RemoteSession, SessionSource

from .conftest import NOW
from .factories import HostFactory, HostGroupFactory, RemoteSessionFactory

pytestmark = pytest.mark.django_db

H = dt.timedelta(hours=1)


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# Groups and hosts --------------------------------------------------------------------------


def test_group_create_and_rules(in_tenant_a, tenant_b):
    acme = OrganizationFactory(tenant=in_tenant_a, name="ACME")
    group = services.host_group_create(name=" ACME ", organization=acme)
    assert (group.name, group.organization, group.tenant) == ("ACME", acme, in_tenant_a)

    with pytest.raises(ValidationError) as excinfo:
        services.host_group_create(name="acme")
    assert "already exists" in errors_of(excinfo)["name"][0]

    foreign = OrganizationFactory(tenant=tenant_b)
    with pytest.raises(ValidationError) as excinfo:
        services.host_group_create(name="Other", organization=foreign)
    assert errors_of(excinfo) == {"organization": ["Customer not found."]}
    with pytest.raises(ValidationError):
        services.host_group_update(group=group, name="")
    assert HostGroup.objects.count() == 1


def test_host_create_takes_group_customer_and_checks_names(in_tenant_a, tenant_b):
    group = HostGroupFactory(tenant=in_tenant_a, name="ACME")
    host = services.host_create(name="Jane_OFFICE_121", group=group, external_id="123456789")
    assert host.organization == group.organization

    with pytest.raises(ValidationError) as excinfo:
        services.host_create(name="jane_office_121")
    assert "already exists" in errors_of(excinfo)["name"][0]
    with pytest.raises(ValidationError) as excinfo:
        services.host_create(name="Other", external_id="123456789")
    assert "external id" in errors_of(excinfo)["external_id"][0]
    with pytest.raises(ValidationError) as excinfo:
        services.host_create(name="Other", group=HostGroupFactory(tenant=tenant_b))
    assert errors_of(excinfo) == {"group": ["Group not found."]}

    services.host_update(host=host, name="Jane_LAPTOP", notes="New laptop")
    host.refresh_from_db()
    assert (host.name, host.notes) == ("Jane_LAPTOP", "New laptop")
    with pytest.raises(TypeError):
        services.host_update(host=host, colour="red")
    assert Host.objects.count() == 1


# Timer -------------------------------------------------------------------------------------


def test_timer_start_stop(in_tenant_a, tech, frozen):
    host = HostFactory(tenant=in_tenant_a)
    session = services.session_timer_start(host=host, technician=tech, comment="Call")
    assert session.is_running and session.source == SessionSource.TIMER
    assert session.started_at == NOW

    frozen.shift(dt.timedelta(minutes=15, seconds=18, microseconds=400_000))
    stopped = services.session_timer_stop(session=session, actor=tech)
    assert stopped.ended_at == NOW + dt.timedelta(minutes=15, seconds=18)
    assert stopped.duration_seconds == 918

    with pytest.raises(ValidationError) as excinfo:
        services.session_timer_stop(session=stopped, actor=tech)
    assert "not running" in errors_of(excinfo)["ended_at"][0]


def test_stop_in_the_first_second_makes_one_second(in_tenant_a, tech, frozen):
    session = services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    assert services.session_timer_stop(session=session, actor=tech).duration_seconds == 1


def test_one_running_timer_per_technician(in_tenant_a, tech, tech2, frozen):
    first = HostFactory(tenant=in_tenant_a, name="PC-1")
    services.session_timer_start(host=first, technician=tech)
    with pytest.raises(ValidationError) as excinfo:
        services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    assert "already running on PC-1" in errors_of(excinfo)["host"][0]
    # Another technician may run a timer at the same time, even on the same host.
    services.session_timer_start(host=first, technician=tech2)
    assert RemoteSession.objects.filter(ended_at__isnull=True).count() == 2


def test_running_timer_constraint_is_in_the_database(in_tenant_a, tech, frozen):
    from django.db import IntegrityError, transaction

    session = services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    duplicate = RemoteSession(
        tenant=in_tenant_a,
        host=HostFactory(tenant=in_tenant_a),
        technician=tech,
        started_at=session.started_at - H,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_timer_left_running_needs_an_end(in_tenant_a, tech, frozen):
    session = services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    frozen.shift(dt.timedelta(hours=30))
    with pytest.raises(ValidationError) as excinfo:
        services.session_timer_stop(session=session, actor=tech)
    assert "more than 24 h" in errors_of(excinfo)["ended_at"][0]
    stopped = services.session_timer_stop(session=session, actor=tech, ended_at=NOW + 2 * H)
    assert stopped.duration_seconds == 7200


def test_timer_on_other_tenants_host_is_not_found(in_tenant_a, tenant_b, tech, frozen):
    with pytest.raises(ValidationError) as excinfo:
        services.session_timer_start(host=HostFactory(tenant=tenant_b), technician=tech)
    assert errors_of(excinfo) == {"host": ["Computer not found."]}


def test_only_owner_or_manager_stops_a_timer(in_tenant_a, tech, tech2, admin_a, frozen):
    session = services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    frozen.shift(dt.timedelta(minutes=5))
    with pytest.raises(PermissionDenied):
        services.session_timer_stop(session=session, actor=tech2)
    assert services.session_timer_stop(session=session, actor=admin_a).duration_seconds == 300


# Manual sessions -----------------------------------------------------------------------------


def create(host, tech, start, end, **extra):
    return services.session_create(
        host=host,
        technician=tech,
        actor=extra.pop("actor", tech),
        started_at=start,
        ended_at=end,
        **extra,
    )


def test_manual_session_in_whole_seconds(in_tenant_a, tech, frozen):
    host = HostFactory(tenant=in_tenant_a)
    start = NOW - 3 * H + dt.timedelta(microseconds=700_000)
    session = create(host, tech, start, start + dt.timedelta(minutes=9, seconds=40), comment=" x ")
    assert session.started_at == NOW - 3 * H
    assert session.duration_seconds == 580
    assert (session.comment, session.source, session.billable) == ("x", "manual", True)


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (NOW - H, NOW - 2 * H, "ended_at", "The end must be after the start."),
        (NOW - H, NOW - H, "ended_at", "The end must be after the start."),
        (NOW - H, NOW + dt.timedelta(minutes=1), "ended_at", "The end cannot be in the future."),
        (NOW - 26 * H, NOW - H, "ended_at", "cannot last longer than 24 h"),
        (NOW + H, NOW + 2 * H, "started_at", "The start cannot be in the future."),
    ],
    ids=["end-before-start", "zero-length", "end-in-future", "over-24h", "start-in-future"],
)
def test_manual_session_time_rules(in_tenant_a, tech, frozen, start, end, field, message):
    with pytest.raises(ValidationError) as excinfo:
        create(HostFactory(tenant=in_tenant_a), tech, start, end)
    assert message in errors_of(excinfo)[field][0]
    assert RemoteSession.objects.count() == 0


def test_exactly_24_hours_is_allowed(in_tenant_a, tech, frozen):
    session = create(HostFactory(tenant=in_tenant_a), tech, NOW - 25 * H, NOW - H)
    assert session.duration_seconds == 86400


def test_manual_session_on_other_tenants_host(in_tenant_a, tenant_b, tech, frozen):
    with pytest.raises(ValidationError) as excinfo:
        create(HostFactory(tenant=tenant_b), tech, NOW - 2 * H, NOW - H)
    assert errors_of(excinfo) == {"host": ["Computer not found."]}
    with tenant_context(tenant_b):
        assert RemoteSession.objects.count() == 0


def test_manual_session_overlapping_running_timer(in_tenant_a, tech, frozen):
    host = HostFactory(tenant=in_tenant_a, name="PC-RUN")
    frozen.shift(-H)
    services.session_timer_start(host=host, technician=tech)
    frozen.shift(H)
    other = HostFactory(tenant=in_tenant_a)
    with pytest.raises(ValidationError) as excinfo:
        create(other, tech, NOW - 2 * H, NOW - dt.timedelta(minutes=30))
    assert "Overlaps the timer running on PC-RUN" in errors_of(excinfo)["ended_at"][0]
    # Before the timer started is fine.
    create(other, tech, NOW - 3 * H, NOW - 2 * H)


def test_technician_must_be_a_staff_member(in_tenant_a, staff_b, tech, frozen):
    stranger = staff_b.user(Role.TECHNICIAN)
    with pytest.raises(ValidationError) as excinfo:
        create(HostFactory(tenant=in_tenant_a), stranger, NOW - 2 * H, NOW - H, actor=stranger)
    assert errors_of(excinfo) == {"technician": ["Technician not found."]}


def test_only_managers_log_for_someone_else(in_tenant_a, tech, tech2, admin_a, frozen):
    host = HostFactory(tenant=in_tenant_a)
    with pytest.raises(PermissionDenied):
        create(host, tech2, NOW - 2 * H, NOW - H, actor=tech)
    session = create(host, tech2, NOW - 2 * H, NOW - H, actor=admin_a)
    assert session.technician == tech2


def test_same_host_span_twice_is_refused(in_tenant_a, tech, frozen):
    host = HostFactory(tenant=in_tenant_a)
    create(host, tech, NOW - 2 * H, NOW - H)
    with pytest.raises(ValidationError) as excinfo:
        create(host, tech, NOW - 2 * H, NOW - H)
    assert "same start and end" in errors_of(excinfo)["started_at"][0]


# Update and delete ---------------------------------------------------------------------------


def test_update_comment_billable_and_times(in_tenant_a, tech, frozen):
    session = RemoteSessionFactory(tenant=in_tenant_a, technician=tech)
    services.session_update(
        session=session,
        actor=tech,
        comment="Installed Windows updates.",
        billable=False,
        ended_at=session.started_at + dt.timedelta(minutes=5, seconds=38),
    )
    session.refresh_from_db()
    assert (session.comment, session.billable, session.duration_seconds) == (
        "Installed Windows updates.",
        False,
        338,
    )
    with pytest.raises(ValidationError) as excinfo:
        services.session_update(session=session, actor=tech, ended_at=session.started_at)
    assert "after the start" in errors_of(excinfo)["ended_at"][0]
    session.refresh_from_db()
    assert session.duration_seconds == 338


def test_technicians_change_only_their_own(in_tenant_a, tech, tech2, admin_a, frozen):
    session = RemoteSessionFactory(tenant=in_tenant_a, technician=tech2)
    with pytest.raises(PermissionDenied):
        services.session_update(session=session, actor=tech, comment="mine now")
    with pytest.raises(PermissionDenied):
        services.session_delete(session=session, actor=tech)
    services.session_update(session=session, actor=admin_a, comment="checked")
    session.refresh_from_db()
    assert session.comment == "checked"
    services.session_delete(session=session, actor=admin_a)
    assert not RemoteSession.objects.exists()


def test_accountant_changes_nothing(in_tenant_a, staff_a, frozen):
    session = RemoteSessionFactory(tenant=in_tenant_a)
    with pytest.raises(PermissionDenied):
        services.session_update(session=session, actor=staff_a.user(Role.ACCOUNTANT), comment="x")


def test_billed_session_cannot_be_edited_or_deleted(in_tenant_a, tech, admin_a, bill, frozen):
    session = bill(RemoteSessionFactory(tenant=in_tenant_a, technician=tech))
    for actor in (tech, admin_a):
        with pytest.raises(ValidationError) as excinfo:
            services.session_update(session=session, actor=actor, comment="changed")
        assert "on an invoice" in excinfo.value.messages[0]
        with pytest.raises(ValidationError):
            services.session_delete(session=session, actor=actor)
    session.refresh_from_db()
    assert session.comment != "changed"
    assert RemoteSession.objects.filter(pk=session.pk).exists()


def test_running_session_end_only_by_stop(in_tenant_a, tech, frozen):
    session = services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    with pytest.raises(ValidationError) as excinfo:
        services.session_update(session=session, actor=tech, ended_at=NOW)
    assert "Stop the timer" in errors_of(excinfo)["ended_at"][0]
    services.session_update(session=session, actor=tech, comment="Still on it")
    session.refresh_from_db()
    assert session.comment == "Still on it" and session.is_running


def test_update_moving_end_over_running_timer(in_tenant_a, tech, frozen):
    done = create(HostFactory(tenant=in_tenant_a), tech, NOW - 3 * H, NOW - 2 * H)
    frozen.shift(-H)
    services.session_timer_start(host=HostFactory(tenant=in_tenant_a), technician=tech)
    frozen.shift(H)
    with pytest.raises(ValidationError) as excinfo:
        services.session_update(session=done, actor=tech, ended_at=NOW - dt.timedelta(minutes=1))
    assert "Overlaps the timer" in errors_of(excinfo)["ended_at"][0]


# Signatures ------------------------------------------------------------------------------

UPDATE_SERVICES = [
    (services.host_group_update, services.HOST_GROUP_FIELDS, {"group"}),
    (services.host_update, services.HOST_FIELDS, {"host"}),
    (services.session_update, services.SESSION_UPDATE_FIELDS, {"session", "actor"}),
]


@pytest.mark.parametrize(
    ("service", "fields", "others"),
    UPDATE_SERVICES,
    ids=[service.__name__ for service, *_ in UPDATE_SERVICES],
)
def test_update_services_take_their_fields_as_keywords(service, fields, others):
    parameters = inspect.signature(service).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert set(parameters) == set(fields) | others
    assert {name: parameters[name].default for name in fields} == dict.fromkeys(fields, UNSET)


def test_host_update_changes_only_the_given_fields(in_tenant_a):
    host = HostFactory(tenant=in_tenant_a, notes="Old")
    group, organization = host.group, host.organization
    services.host_update(host=host, notes="New")
    host.refresh_from_db()
    assert (host.notes, host.group, host.organization) == ("New", group, organization)
    services.host_update(host=host, group=None)  # None is a value: the host leaves its group
    host.refresh_from_db()
    assert (host.notes, host.group, host.organization) == ("New", None, organization)


def test_session_update_changes_only_the_given_fields(in_tenant_a, tech, frozen):
    session = create(HostFactory(tenant=in_tenant_a), tech, NOW - 2 * H, NOW - H, comment="Old")
    services.session_update(session=session, actor=tech, billable=False)
    session.refresh_from_db()
    assert (session.comment, session.billable, session.ended_at) == ("Old", False, NOW - H)
