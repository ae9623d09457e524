"""The weekly timesheet: a refused save keeps every value typed and marks the cell and the
row at fault; one save is one transaction; rows can be added (without JavaScript too);
billable is chosen per row; totals follow the values. Tenant B's tickets are no rows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from contracts.choices import TimeEntrySource, TimeEntryState
from contracts.models import TimeEntry

from .factories import ContractFactory, ServiceTypeFactory, TimeEntryFactory

NOW = dt.datetime(2026, 2, 10, 10, tzinfo=dt.UTC)
WEEK = "2026-02-09"
URL = "/contracts/timesheet/"

pytestmark = pytest.mark.usefixtures("freeze", "in_tenant_a")


@pytest.fixture
def freeze():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def tech_client(client_as, tech):
    return client_as(tech)


def _row(index, *, ticket="", contract="", service_type="", billable="", fixed=False, **days):
    data = {
        f"row-{index}-ticket": ticket,
        f"row-{index}-contract": contract,
        f"row-{index}-service_type": service_type,
        f"row-{index}-billable": billable,
    }
    if fixed:
        data[f"row-{index}-fixed"] = "1"
    for day in range(7):
        data[f"row-{index}-d{day}"] = days.get(f"d{day}", "")
    return data


def _grid(*rows):
    data = {"week": WEEK, "row_count": str(len(rows))}
    for row in rows:
        data.update(row)
    return data


def _value(content: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', content)
    return match.group(1) if match else None


def _cell_tag(content: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', content).group(0)


def test_a_bad_cell_keeps_every_value_and_marks_the_cell_and_its_row(
    tech_client, ticket, hourly, remote
):
    response = tech_client.post(
        URL,
        _grid(
            _row(0, ticket=ticket.pk, service_type=remote.pk, billable="no", d0="1.5", d1="abc"),
            _row(1, contract=hourly.pk, d2="2", d3="0:45"),
        ),
    )
    assert response.status_code == 400
    content = response.content.decode()
    # Every value as typed, the choices of each row kept.
    assert [_value(content, f"row-0-d{day}") for day in (0, 1)] == ["1.5", "abc"]
    assert [_value(content, f"row-1-d{day}") for day in (2, 3)] == ["2", "0:45"]
    assert re.search(rf'<option value="{ticket.pk}" selected>', content)
    assert re.search(rf'<option value="{hourly.pk}" selected>', content)
    assert re.search(r'<option value="no" selected>Non-billable</option>', content)
    # The cell at fault, its message next to it, and its row; the other row is not marked.
    bad = _cell_tag(content, "row-0-d1")
    assert 'aria-invalid="true"' in bad and 'aria-describedby="row-0-d1-error"' in bad
    assert re.search(
        r'id="row-0-d1-error">“abc” is not a number of hours \(use 1.5 or 1:30\).</div>', content
    )
    assert 'aria-invalid="true"' not in _cell_tag(content, "row-1-d2")
    assert content.count('class="row-error"') == 1
    assert (
        f"Row 1 ({ticket.reference} {ticket.title}), Tue 10 Feb: “abc” is not a number of hours"
        in content
    )
    # Totals of what reads as hours: 1 h 30 min + 2 h 45 min.
    assert re.search(r"data-week-total>4 h 15 min<", content)
    assert not TimeEntry.objects.exists()


def test_one_refused_day_saves_nothing_of_the_week(tech_client, in_tenant_a, acme, ticket):
    ended = ContractFactory(
        tenant=in_tenant_a, customer=acme, name="Ended", end_date=dt.date(2026, 2, 10)
    )
    response = tech_client.post(
        URL,
        _grid(_row(0, ticket=ticket.pk, d0="1"), _row(1, contract=ended.pk, d1="1", d2="2")),
    )
    # The 12th is past the contract's end: refused there; the valid days are not saved
    # either (one transaction), and all three values are still on the page.
    assert response.status_code == 400
    content = response.content.decode()
    assert "is outside contract “Ended”" in content.split('id="row-1-d2-error"')[1][:200]
    assert 'aria-invalid="true"' not in _cell_tag(content, "row-1-d1")
    assert [_value(content, n) for n in ("row-0-d0", "row-1-d1", "row-1-d2")] == ["1", "1", "2"]
    assert not TimeEntry.objects.exists()


def test_row_errors_are_shown_on_the_row(tech_client, ticket, remote):
    response = tech_client.post(
        URL,
        _grid(
            _row(0, d0="1"),
            _row(1, ticket=ticket.pk, service_type=remote.pk, d0="1"),
            _row(2, ticket=ticket.pk, service_type=remote.pk, d1="2"),
        ),
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="row-0-error">Choose a ticket or a contract for this row.</div>' in content
    assert (
        'id="row-2-error">Row 2 has the same ticket or contract, service type and billing: '
        "put these hours in one row.</div>" in content
    )
    assert content.count('class="row-error"') == 2
    assert not TimeEntry.objects.exists()


def test_billable_is_chosen_per_row(tech_client, tech, ticket, remote):
    response = tech_client.post(
        URL,
        _grid(
            _row(0, ticket=ticket.pk, service_type=remote.pk, d0="2"),
            _row(1, ticket=ticket.pk, service_type=remote.pk, billable="no", d0="0.5"),
        ),
    )
    assert response.status_code == 302
    saved = TimeEntry.objects.filter(technician=tech, source=TimeEntrySource.TIMESHEET)
    assert sorted(saved.values_list("worked_seconds", "billable")) == [
        (1800, False),
        (7200, True),
    ]
    page = tech_client.get(URL, {"week": WEEK}).content.decode()
    # Two rows of the same ticket, told apart by their billing, each saved as it is.
    assert page.count(f'name="row-0-ticket" value="{ticket.pk}"') == 1
    assert page.count(f'name="row-1-ticket" value="{ticket.pk}"') == 1
    assert '<span class="badge">Non-billable</span>' in page
    assert re.search(r"data-week-total>2 h 30 min<", page)
    # Saving the page unchanged changes nothing.
    again = tech_client.post(
        URL,
        _grid(
            _row(
                0, ticket=ticket.pk, service_type=remote.pk, billable="yes", fixed=True, d0="2:00"
            ),
            _row(1, ticket=ticket.pk, service_type=remote.pk, billable="no", fixed=True, d0="0:30"),
        ),
        follow=True,
    )
    assert "Timesheet saved (0 day(s) changed)." in again.content.decode()
    assert saved.count() == 2


def test_a_non_billable_service_type_is_the_default_of_its_row(
    tech_client, tech, in_tenant_a, ticket
):
    goodwill = ServiceTypeFactory(tenant=in_tenant_a, name="Goodwill", default_billable=False)
    tech_client.post(URL, _grid(_row(0, ticket=ticket.pk, service_type=goodwill.pk, d4="1")))
    assert TimeEntry.objects.get(technician=tech).billable is False


def test_add_a_row_without_javascript_keeps_the_grid_and_saves_nothing(tech_client, ticket, remote):
    response = tech_client.post(
        URL,
        {
            **_grid(_row(0, ticket=ticket.pk, service_type=remote.pk, d0="abc", d1="1")),
            "add_row": "1",
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert _value(content, "row_count") == "2"
    assert [_value(content, "row-0-d0"), _value(content, "row-0-d1")] == ["abc", "1"]
    assert 'name="row-1-ticket"' in content
    assert not TimeEntry.objects.exists()


def test_the_page_adds_rows_and_totals_with_its_own_script(tech_client):
    content = tech_client.get(URL).content.decode()
    # The empty row the script copies, numbered when copied; the script is local.
    template = content.split('<template id="timesheet-row-template">')[1].split("</template>")[0]
    assert 'name="row-__n__-ticket"' in template and "row __row__" in template
    assert "/static/contracts/js/timesheet.js" in content and "https://" not in content
    assert "data-add-row" in content and "data-day-total=" in content


def test_an_approved_day_cannot_change_and_the_grid_says_where(
    tech_client, tech, in_tenant_a, ticket, remote
):
    TimeEntryFactory(
        tenant=in_tenant_a,
        ticket=ticket,
        technician=tech,
        service_type=remote,
        work_date=dt.date(2026, 2, 9),
        worked_seconds=3600,
        source=TimeEntrySource.TIMESHEET,
        state=TimeEntryState.APPROVED,
    )
    page = tech_client.get(URL, {"week": WEEK}).content.decode()
    assert "readonly" in _cell_tag(page, "row-0-d0")
    response = tech_client.post(
        URL,
        _grid(
            _row(
                0,
                ticket=ticket.pk,
                service_type=remote.pk,
                billable="yes",
                fixed=True,
                d0="3",
                d1="1",
            )
        ),
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="row-0-d0-error">Approved: this day can no longer change.</div>' in content
    assert _value(content, "row-0-d1") == "1"
    assert TimeEntry.objects.count() == 1


def test_other_tenants_ticket_is_no_row(tech_client, other_tenant_rows):
    response = tech_client.post(URL, _grid(_row(0, ticket=other_tenant_rows.pk, d0="1")))
    assert response.status_code == 400
    assert "Choose a ticket or a contract for this row." in response.content.decode()
    assert not TimeEntry.objects.exists()


def test_saving_reads_the_week_once_not_per_cell(
    tech_client, tech, in_tenant_a, acme, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    contracts = [ContractFactory(tenant=in_tenant_a, customer=acme, name=f"C{n}") for n in range(5)]
    for contract in contracts:
        TimeEntryFactory(
            tenant=in_tenant_a,
            ticket=None,
            contract=contract,
            technician=tech,
            work_date=dt.date(2026, 2, 9),
            worked_seconds=3600,
            source=TimeEntrySource.TIMESHEET,
        )

    def unchanged(count):
        return _grid(
            *[
                _row(n, contract=contracts[n].pk, billable="yes", fixed=True, d0="1")
                for n in range(count)
            ]
        )

    with CaptureQueriesContext(connection) as one_row:
        tech_client.post(URL, unchanged(1))
    # Five rows of seven unchanged days: no look-up per cell or per row.
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        response = tech_client.post(URL, unchanged(5))
    assert response.status_code == 302
