"""Reads: filters in the tenant's calendar, totals at every level, invoice scopes,
and query counts that do not grow with the number of rows."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing_site.tenancy import tenant_context
from billing_site.timeutils import format_duration
from sessions import selectors
from sessions.selectors import SessionFilters

from .factories import HostFactory, HostGroupFactory, RemoteSessionFactory

pytestmark = pytest.mark.django_db

PARIS = dt.timezone(dt.timedelta(hours=2))  # October 2026, before the change to winter time


def at(day, hour, minute=0):
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def acme(tenant_a):
    """The seed: ACME with Joseph and Jane; Jane's sessions sum to 15 min 18 s."""
    group = HostGroupFactory(tenant=tenant_a, name="ACME")
    jane = HostFactory(tenant=tenant_a, name="Jane_OFFICE_121", group=group)
    joseph = HostFactory(tenant=tenant_a, name="Joseph_OFFICE_121", group=group)
    RemoteSessionFactory(
        tenant=tenant_a,
        host=jane,
        started_at=at(12, 9, 5),
        duration=580,
        comment="Installed Windows updates.",
    )
    RemoteSessionFactory(tenant=tenant_a, host=jane, started_at=at(19, 14, 20), duration=338)
    RemoteSessionFactory(tenant=tenant_a, host=joseph, started_at=at(12, 10), duration=1200)
    return SimpleNamespace(group=group, jane=jane, joseph=joseph)


def test_date_range_is_in_tenant_calendar(tenant_a, tenant_b):
    host = HostFactory(tenant=tenant_a)
    early = RemoteSessionFactory(tenant=tenant_a, host=host, started_at=at(1, 0, 30))
    late = RemoteSessionFactory(tenant=tenant_a, host=host, started_at=at(31, 23, 30))
    RemoteSessionFactory(
        tenant=tenant_a, host=host, started_at=at(30, 23, 59) - dt.timedelta(days=30)
    )
    RemoteSessionFactory(tenant=tenant_b)
    with tenant_context(tenant_a):
        # 00:30 on 1 October in Paris is still 30 September in UTC: it belongs to October.
        october = selectors.session_list(
            date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31)
        )
        assert set(october) == {early, late}
    with tenant_context(tenant_b):
        assert selectors.session_list().count() == 1


def test_filters(tenant_a, acme, tech, bill):
    group, jane = acme.group, acme.jane
    other = RemoteSessionFactory(tenant=tenant_a, technician=tech)
    billed = bill(RemoteSessionFactory(tenant=tenant_a, host=jane, started_at=at(2, 8)))
    with tenant_context(tenant_a):
        assert selectors.session_list(host=jane.pk).count() == 3
        assert selectors.session_list(group=group.pk).count() == 4
        assert selectors.session_list(organization=group.organization_id).count() == 4
        assert list(selectors.session_list(technician=tech.pk)) == [other]
        assert list(selectors.session_list(billed=True)) == [billed]
        assert selectors.session_list(billed=False).count() == 4
        totals = selectors.session_totals(filters=SessionFilters(host=jane.pk, billed=False))
        assert totals == {"session_count": 2, "total_seconds": 918, "invoiceable_count": 2}
        # The billed session counts in the totals, not among those left to invoice.
        every = selectors.session_totals(filters=SessionFilters(host=jane.pk))
        assert every["session_count"] == 3 and every["invoiceable_count"] == 2


def test_billable_for_scope(tenant_a, tenant_b, acme, bill):
    group, jane = acme.group, acme.jane
    bill(RemoteSessionFactory(tenant=tenant_a, host=jane, started_at=at(3, 8)))
    RemoteSessionFactory(tenant=tenant_a, host=jane, started_at=at(4, 8), billable=False)
    RemoteSessionFactory(tenant=tenant_a, host=jane, started_at=at(5, 8), duration=None)
    RemoteSessionFactory(tenant=tenant_a, host=jane, started_at=at(5, 8) - dt.timedelta(days=40))
    with tenant_context(tenant_a):
        first = selectors.session_list(host=jane.pk, billed=False).order_by("started_at").first()
        in_october = {"date_from": dt.date(2026, 10, 1), "date_to": dt.date(2026, 10, 31)}
        session_scope = selectors.sessions_billable_for_scope(scope="session", object_id=first.pk)
        assert list(session_scope) == [first]
        host_scope = selectors.sessions_billable_for_scope(
            scope="host", object_id=jane.pk, **in_october
        )
        assert [s.duration_seconds for s in host_scope] == [580, 338]
        assert format_duration(sum(s.duration_seconds for s in host_scope)) == "15 min 18 s"
        group_scope = list(
            selectors.sessions_billable_for_scope(scope="group", object_id=group.pk, **in_october)
        )
        assert [s.host.name for s in group_scope] == [
            "Jane_OFFICE_121",
            "Jane_OFFICE_121",
            "Joseph_OFFICE_121",
        ]
        only_19th = selectors.sessions_billable_for_scope(
            scope="host",
            object_id=str(jane.pk),
            date_from=dt.date(2026, 10, 19),
            date_to=dt.date(2026, 10, 19),
        )
        assert [s.duration_seconds for s in only_19th] == [338]
        with pytest.raises(ValidationError):
            selectors.sessions_billable_for_scope(scope="planet", object_id=1)
        with pytest.raises(ValidationError):
            selectors.sessions_billable_for_scope(scope="host", object_id="x")
    with tenant_context(tenant_b):
        assert not selectors.sessions_billable_for_scope(scope="group", object_id=group.pk)


def test_billable_for_scope_query_count(tenant_a, acme, django_assert_num_queries):
    group, joseph = acme.group, acme.joseph
    with tenant_context(tenant_a):
        with django_assert_num_queries(1):
            rows = list(selectors.sessions_billable_for_scope(scope="group", object_id=group.pk))
            for session in rows:
                assert session.host.group.organization.name and session.technician.username
        for _ in range(10):
            RemoteSessionFactory(tenant=tenant_a, host=joseph)
        with django_assert_num_queries(1):
            rows = list(selectors.sessions_billable_for_scope(scope="group", object_id=group.pk))
            for session in rows:
                assert session.host.group.organization.name and session.technician.username
        assert len(rows) == 13


def _client_tree(filters):
    groups = list(selectors.client_group_summaries(filters=filters))
    ungrouped = selectors.client_ungrouped_summary(filters=filters)
    return selectors.client_tree(groups=groups, ungrouped=ungrouped, filters=filters)


def test_group_by_client_totals_at_every_level(tenant_a, tenant_b, acme):
    group, jane = acme.group, acme.jane
    RemoteSessionFactory(
        tenant=tenant_a, host=HostFactory(tenant=tenant_a, group=None), duration=60
    )
    RemoteSessionFactory(tenant=tenant_b, host__name="Jane_OFFICE_121")
    october = SessionFilters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))
    with tenant_context(tenant_a):
        tree = _client_tree(october)
    [acme_node] = tree
    assert (acme_node.group, acme_node.host_count, acme_node.session_count) == (group, 2, 3)
    assert format_duration(acme_node.total_seconds) == "35 min 18 s"
    jane_node, joseph_node = acme_node.hosts
    assert (jane_node.host, jane_node.session_count) == (jane, 2)
    assert format_duration(jane_node.total_seconds) == "15 min 18 s"
    assert jane_node.sessions[0].comment == "Installed Windows updates."
    assert format_duration(joseph_node.total_seconds) == "20 min"
    with tenant_context(tenant_a):
        everything = _client_tree(SessionFilters())
    assert [node.key for node in everything] == [f"group-{group.pk}", "ungrouped"]
    assert everything[1].session_count == 1 and everything[1].total_seconds == 60


def test_host_tree_totals_and_search(tenant_a, acme):
    jane = acme.jane
    empty = HostGroupFactory(tenant=tenant_a, name="Bistro")
    HostFactory(tenant=tenant_a, name="LOOSE-PC", group=None)
    with tenant_context(tenant_a):
        groups = list(selectors.host_group_summaries())
        tree = selectors.host_tree(groups=groups, ungrouped=selectors.ungrouped_summary())
        by_name = {node.group.name if node.group else None: node for node in tree}
        assert by_name["ACME"].total_seconds == 2118 and by_name["ACME"].host_count == 2
        assert by_name["Bistro"].hosts == [] and by_name["Bistro"].group == empty
        assert [h.host.name for h in by_name[None].hosts] == ["LOOSE-PC"]

        groups = list(selectors.host_group_summaries(search="jane"))
        assert [(g.name, g.host_count, g.session_count, g.total_seconds) for g in groups] == [
            ("ACME", 1, 2, 918)
        ]
        tree = selectors.host_tree(groups=groups, search="jane")
        assert [h.host for h in tree[0].hosts] == [jane]


def count_queries(callable_):
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured.captured_queries)


def test_query_counts_do_not_grow_with_rows(tenant_a, acme):
    filters = SessionFilters()

    def render_all():
        with tenant_context(tenant_a):
            for node in _client_tree(filters):
                for host in node.hosts:
                    for session in host.sessions:
                        str(session.technician) and session.host.group and session.invoice_line
            groups = list(selectors.host_group_summaries(filters=filters))
            selectors.host_tree(groups=groups, ungrouped=selectors.ungrouped_summary())
            for session in selectors.session_list()[:50]:
                str(session.technician) and session.host.group and session.invoice_line

    before = count_queries(render_all)
    for _ in range(5):
        other = HostGroupFactory(tenant=tenant_a)
        for _ in range(3):
            RemoteSessionFactory(tenant=tenant_a, host=HostFactory(tenant=tenant_a, group=other))
    RemoteSessionFactory(tenant=tenant_a, host=HostFactory(tenant=tenant_a, group=None))
    assert count_queries(render_all) == before
