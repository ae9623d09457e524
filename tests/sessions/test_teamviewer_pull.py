"""Pulling session logs from TeamViewer's Web API: a fake TeamViewer on loopback checks
the request shape (Bearer token, path, from_date/to_date, offset_id paging) and serves
the connection report in pages; the records go through the file importer's write path."""

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.db import connection as db_connection
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from integrations.core import crypto
from sessions import selectors, services, teamviewer
from sessions.models import Host, PullStatus, RemoteSession, TeamViewerConnection
from sessions.tasks import teamviewer_pull_all_task

from .factories import HostFactory, technician_in
from .fakes_teamviewer import FakeTeamViewer, Scripted

pytestmark = pytest.mark.django_db

UTC = dt.UTC
TOKEN_A = "12345678-AbCdEfGhIjKlMnOpQrSt"
TOKEN_B = "87654321-ZyXwVuTsRqPoNmLkJiHg"
API = "/api/v1/sessions/teamviewer/"
PULL_API = "/api/v1/sessions/teamviewer/pull/"


def at(*parts) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def record(number: int, **fields) -> dict:
    """A connection record as TeamViewer's report lists it."""
    start = at(2026, 11, 10, 8, 0) + dt.timedelta(hours=number * 5)
    base = {
        "id": f"5ae6d2a9-57e9-4c62-b236-{number:012d}",
        "userid": "u1234",
        "username": "Theo Tech",
        "deviceid": f"d{100 + number}",
        "devicename": f"PC-{number}",
        "groupid": "g42",
        "groupname": "Harbor Logistics",
        "support_session_type": 1,
        "start_date": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "end_date": f"{start + dt.timedelta(minutes=10 + number):%Y-%m-%dT%H:%M:%SZ}",
        "fee": 0,
        "currency": "EUR",
        "billing_state": "NotBilled",
        "notes": f"Ticket {number}",
    }
    return {**base, **fields}


RECORDS_A = [record(n) for n in range(1, 6)]  # 5 records: pages of 2, 2 and 1


@pytest.fixture(autouse=True)
def _keys(settings):
    settings.INTEGRATIONS_KEYS = [Fernet.generate_key().decode()]


@pytest.fixture
def sleeps(monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(teamviewer, "_sleep", waited.append)
    return waited


@pytest.fixture
def fake(settings):
    server = FakeTeamViewer({TOKEN_A: list(RECORDS_A), TOKEN_B: []}).start()
    settings.TEAMVIEWER_API_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def tech(staff_a):
    user = staff_a.user(Role.TECHNICIAN)
    user.first_name, user.last_name = "Theo", "Tech"
    user.save()
    return user


@pytest.fixture
def owner(staff_a):
    return staff_a.user(Role.OWNER)


def connect(tenant, user, token=TOKEN_A, **kwargs):
    with tenant_context(tenant):
        return services.teamviewer_connection_save(actor=user, token=token, **kwargs)


def pull(tenant):
    with tenant_context(tenant):
        return services.teamviewer_pull(tenant=tenant)


def connection_of(tenant) -> TeamViewerConnection:
    with tenant_context(tenant):
        return TeamViewerConnection.objects.get()


def sessions_of(tenant):
    with tenant_context(tenant):
        return [
            (
                s.host.name,
                s.host.external_id,
                s.technician.username,
                s.started_at,
                s.ended_at,
                s.duration_seconds,
                s.external_id,
                s.comment,
            )
            for s in RemoteSession.objects.select_related("host", "technician").order_by(
                "started_at"
            )
        ]


def expected(records, username="alpha-technician", names=None):
    names = names or {}
    rows = []
    for item in records:
        start = dt.datetime.fromisoformat(item["start_date"])
        end = dt.datetime.fromisoformat(item["end_date"])
        rows.append(
            (
                names.get(item["deviceid"], item["devicename"]),
                item["deviceid"],
                username,
                start,
                end,
                int((end - start).total_seconds()),
                f"teamviewer:{item['id']}",
                item["notes"],
            )
        )
    return rows


# The pull ---------------------------------------------------------------------------------


def test_pull_fetches_every_page_and_imports_every_record_exactly(
    tenant_a, tech, owner, fake, frozen
):
    # A computer already known by its TeamViewer device id keeps its own name.
    HostFactory(tenant=tenant_a, name="Front desk", external_id="d102", group=None)
    connect(tenant_a, owner)
    outcome = pull(tenant_a)

    assert outcome.status == PullStatus.OK, outcome.error
    assert (outcome.fetched, outcome.sessions_created, outcome.hosts_created) == (5, 5, 4)
    assert sessions_of(tenant_a) == expected(RECORDS_A, names={"d102": "Front desk"})

    # The request shape: three pages, each with the token, the period and the offset.
    assert fake.problems == []
    calls = fake.requests
    assert len(calls) == 3
    for call in calls:
        assert call["method"] == "GET"
        assert call["path"] == "/api/v1/reports/connections"
        assert call["headers"]["authorization"] == f"Bearer {TOKEN_A}"
        # First pull: the last 30 days up to now, in ISO 8601 UTC.
        assert call["args"]["from_date"] == "2026-10-17T11:00:00Z"
        assert call["args"]["to_date"] == "2026-11-16T11:00:00Z"
        assert "groupid" not in call["args"]
    assert "offset_id" not in calls[0]["args"]
    assert calls[1]["args"]["offset_id"] == RECORDS_A[1]["id"]
    assert calls[2]["args"]["offset_id"] == RECORDS_A[3]["id"]

    saved = connection_of(tenant_a)
    assert saved.last_status == PullStatus.OK and saved.last_error == ""
    assert saved.pulled_until == dt.datetime.fromisoformat(RECORDS_A[-1]["end_date"])
    assert saved.last_result["sessions_created"] == 5
    assert saved.last_run_at is not None


def test_second_pull_adds_nothing_and_asks_from_the_cursor(tenant_a, tech, owner, fake, frozen):
    connect(tenant_a, owner)
    pull(tenant_a)
    first = sessions_of(tenant_a)
    cursor = connection_of(tenant_a).pulled_until
    fake.requests.clear()

    again = pull(tenant_a)
    assert again.status == PullStatus.OK
    assert (again.sessions_created, again.duplicates) == (0, 5)
    assert sessions_of(tenant_a) == first
    assert (
        fake.requests[0]["args"]["from_date"]
        == f"{cursor - dt.timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
    )

    # A connection that ended since is imported by the next pull; the rest are skipped.
    frozen.shift(dt.timedelta(hours=2))
    late = record(9, start_date="2026-11-16T11:30:00Z", end_date="2026-11-16T12:05:00Z")
    fake.accounts[TOKEN_A].append(late)
    third = pull(tenant_a)
    assert (third.sessions_created, third.duplicates) == (1, 5)
    assert sessions_of(tenant_a) == expected([*RECORDS_A, late])
    assert connection_of(tenant_a).pulled_until == at(2026, 11, 16, 12, 5)


def test_a_record_with_an_error_imports_nothing(tenant_a, tech, owner, fake, frozen):
    fake.accounts[TOKEN_A][2] = record(3, username="Stranger Danger")
    connect(tenant_a, owner)
    outcome = pull(tenant_a)

    assert outcome.status == PullStatus.ROWS_REFUSED
    assert sessions_of(tenant_a) == []
    with tenant_context(tenant_a):
        assert not Host.objects.exists()
    saved = connection_of(tenant_a)
    assert saved.last_status == PullStatus.ROWS_REFUSED
    assert "nothing was imported" in saved.last_error
    assert saved.last_result["error_count"] == 1
    (line,) = saved.last_result["errors"]
    assert line.startswith(f"connection {RECORDS_A[2]['id']} (PC-3, ")
    assert "“Stranger Danger” is not a username of a staff member" in line
    assert saved.pulled_until is None  # the cursor stays: the next pull asks again


def test_group_filter_is_sent_as_groupid(tenant_a, tech, owner, fake, frozen):
    fake.accounts[TOKEN_A] = [record(1), record(2, groupid="g7")]
    connect(tenant_a, owner, group_id="g7")
    outcome = pull(tenant_a)
    assert outcome.sessions_created == 1
    assert fake.requests[0]["args"]["groupid"] == "g7"
    assert [row[0] for row in sessions_of(tenant_a)] == ["PC-2"]


def test_no_records_is_a_successful_pull(tenant_a, owner, fake, frozen):
    connect(tenant_a, owner, token=TOKEN_B)
    outcome = pull(tenant_a)
    assert outcome.status == PullStatus.OK and outcome.fetched == 0
    assert connection_of(tenant_a).pulled_until is None


# Errors in words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "TeamViewer refused the script token (401)"),
        (403, "lacks the “Connection reports: read” permission (403)"),
        (500, "TeamViewer had a server error (500); nothing was imported"),
        (503, "TeamViewer had a server error (503)"),
    ],
)
def test_api_errors_in_words(tenant_a, tech, owner, fake, frozen, status, words):
    connect(tenant_a, owner)
    fake.fail_next(Scripted(status, {"error": "x", "error_description": "Said so."}))
    outcome = pull(tenant_a)
    assert outcome.status == PullStatus.FAILED
    assert words in outcome.error and "TeamViewer said: “Said so.”" in outcome.error
    saved = connection_of(tenant_a)
    assert saved.last_status == PullStatus.FAILED and words in saved.last_error
    assert sessions_of(tenant_a) == []


def test_a_wrong_token_is_401_from_the_fake(tenant_a, owner, fake, frozen):
    connect(tenant_a, owner, token="not-the-right-token")
    outcome = pull(tenant_a)
    assert "refused the script token (401)" in outcome.error


def test_429_is_retried_after_retry_after(tenant_a, tech, owner, fake, frozen, sleeps):
    connect(tenant_a, owner)
    fake.fail_next(Scripted(429, headers={"Retry-After": "3"}), Scripted(429))
    outcome = pull(tenant_a)
    assert outcome.status == PullStatus.OK and outcome.sessions_created == 5
    assert sleeps == [3.0, 4.0]  # TeamViewer's wait, then the doubled default


def test_429_reported_after_a_few_tries(tenant_a, tech, owner, fake, frozen, sleeps):
    connect(tenant_a, owner)
    fake.fail_next(*[Scripted(429, headers={"Retry-After": "1"})] * 4)
    outcome = pull(tenant_a)
    assert outcome.status == PullStatus.FAILED
    assert "limiting requests (429) and still was after 4 tries" in outcome.error
    assert sleeps == [1.0, 1.0, 1.0]
    assert sessions_of(tenant_a) == []


def test_a_page_failing_midway_imports_nothing(tenant_a, tech, owner, fake, frozen, sleeps):
    connect(tenant_a, owner)
    fake.page_size = 2
    original = fake.report
    calls = []

    def second_page_fails(request, records):
        calls.append(1)
        if len(calls) == 2:
            from .fakes_teamviewer import _json

            return _json({}, 502)
        return original(request, records)

    fake.report = second_page_fails
    outcome = pull(tenant_a)
    assert "server error (502)" in outcome.error
    assert sessions_of(tenant_a) == []


def test_network_error_in_words(tenant_a, owner, settings, frozen):
    settings.TEAMVIEWER_API_URL = "http://127.0.0.1:9/api/v1"  # nothing listens there
    connect(tenant_a, owner)
    outcome = pull(tenant_a)
    assert outcome.status == PullStatus.FAILED
    assert outcome.error.startswith("TeamViewer could not be reached (")


def test_a_tenant_without_a_connection_is_not_pulled(tenant_a, fake):
    assert pull(tenant_a) is None
    assert fake.requests == []


# The token at rest ------------------------------------------------------------------------


def test_token_is_encrypted_at_rest_and_never_shown(
    tenant_a, owner, fake, client_as, api_as, frozen
):
    saved = connect(tenant_a, owner)
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT token_encrypted, token_last4 FROM {TeamViewerConnection._meta.db_table} "
            "WHERE id = %s",
            [saved.pk],
        )
        raw, last4 = cursor.fetchone()
    assert TOKEN_A not in raw and TOKEN_A[:12] not in raw
    assert crypto.decrypt(raw) == TOKEN_A
    assert last4 == TOKEN_A[-4:]

    body = api_as(owner).get(API).json()
    assert TOKEN_A not in str(body) and "token" not in body
    assert body["token_set"] is True and body["token_last4"] == "QrSt"

    page = client_as(owner).get(reverse("sessions:session-import"))
    html = page.content.decode()
    assert TOKEN_A not in html
    assert 'set <span class="mono">…QrSt</span>' in html


def test_saving_without_a_token_keeps_it_and_a_new_group_restarts_the_cursor(
    tenant_a, tech, owner, fake, frozen
):
    connect(tenant_a, owner)
    pull(tenant_a)
    assert connection_of(tenant_a).pulled_until is not None
    connect(tenant_a, owner, token="", group_id="g42")
    saved = connection_of(tenant_a)
    assert crypto.decrypt(saved.token_encrypted) == TOKEN_A
    assert saved.group_id == "g42" and saved.pulled_until is None


def test_token_and_group_are_checked(tenant_a, owner):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as missing:
        connect(tenant_a, owner, token="")
    assert "token" in missing.value.message_dict
    with pytest.raises(ValidationError) as spaced:
        connect(tenant_a, owner, token="has a space in it")
    assert "token" in spaced.value.message_dict
    with pytest.raises(ValidationError) as group:
        connect(tenant_a, owner, group_id="g 1; drop")
    assert "group_id" in group.value.message_dict


def test_without_an_encryption_key_nothing_is_stored(tenant_a, owner, settings):
    from django.core.exceptions import ValidationError

    settings.INTEGRATIONS_KEYS = []
    settings.DEBUG = False
    with pytest.raises(ValidationError) as refused:
        connect(tenant_a, owner)
    assert "INTEGRATIONS_KEYS" in " ".join(refused.value.message_dict["token"])
    with tenant_context(tenant_a):
        assert not TeamViewerConnection.objects.exists()


# Tenants --------------------------------------------------------------------------------


def test_tenant_b_never_sees_a_connection(
    tenant_a, tenant_b, owner, staff_b, fake, api_as, client_as, frozen
):
    connect(tenant_a, owner)
    owner_b = staff_b.user(Role.OWNER)
    api = api_as(owner_b)
    assert api.get(API).status_code == 404
    assert api.post(PULL_API).status_code == 404
    with tenant_context(tenant_b):
        assert selectors.teamviewer_connection() is None
    html = client_as(owner_b).get(reverse("sessions:session-import")).content.decode()
    assert "…QrSt" not in html and "Not connected" in html
    # B saving its own token makes its own connection; A's is untouched.
    assert api.put(API, {"token": TOKEN_B}, format="json").status_code == 201
    assert crypto.decrypt(connection_of(tenant_a).token_encrypted) == TOKEN_A
    assert crypto.decrypt(connection_of(tenant_b).token_encrypted) == TOKEN_B


def test_beat_task_pulls_every_tenant_with_a_connection(
    tenant_a, tenant_b, tech, owner, staff_b, fake, frozen
):
    from billing_site.testing.factories import TenantFactory

    owner_b = staff_b.user(Role.OWNER)
    tech_b = technician_in(tenant_b)
    tech_b.first_name, tech_b.last_name = "Bo", "Bravo"
    tech_b.save()
    records_b = [record(21, username="Bo Bravo", deviceid="d900", devicename="BRAVO-PC")]
    fake.accounts[TOKEN_B] = records_b
    connect(tenant_a, owner)
    connect(tenant_b, owner_b, token=TOKEN_B)
    TenantFactory(name="Charlie IT", slug="charlie")  # no connection: not pulled

    totals = teamviewer_pull_all_task.delay().get()
    assert totals == {"tenants": 2, "sessions_created": 6, "failed": 0}
    assert sessions_of(tenant_a) == expected(RECORDS_A)
    assert sessions_of(tenant_b) == expected(records_b, username=tech_b.username)
    tokens = {call["headers"]["authorization"] for call in fake.requests}
    assert tokens == {f"Bearer {TOKEN_A}", f"Bearer {TOKEN_B}"}

    # Scheduled again: nothing new anywhere.
    assert teamviewer_pull_all_task.delay().get()["sessions_created"] == 0


def test_beat_task_goes_on_after_a_failing_tenant(tenant_a, tenant_b, tech, owner, staff_b, fake):
    connect(tenant_a, owner, token="revoked-token-000")
    connect(tenant_b, staff_b.user(Role.OWNER), token=TOKEN_B)
    totals = teamviewer_pull_all_task.delay().get()
    assert totals == {"tenants": 2, "sessions_created": 0, "failed": 1}
    assert connection_of(tenant_a).last_status == PullStatus.FAILED
    assert connection_of(tenant_b).last_status == PullStatus.OK


def test_beat_schedule_has_the_pull(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["teamviewer-pull"]
    assert entry["task"] == "sessions.teamviewer_pull_all_task"
    assert entry["schedule"] == float(settings.TEAMVIEWER_PULL_EVERY)


# API and page ---------------------------------------------------------------------------


def test_api_settings_and_pull_now(
    tenant_a, tech, owner, fake, api_as, frozen, django_capture_on_commit_callbacks
):
    api = api_as(owner)
    assert api.get(API).status_code == 404
    assert api.put(API, {"group_id": "g42"}, format="json").status_code == 400  # no token yet
    created = api.put(API, {"token": TOKEN_A}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["last_result"] is None and created.json()["last_status"] == ""
    assert api.put(API, {"group_id": "g42"}, format="json").status_code == 200
    assert api.put(API, {"token": "x y"}, format="json").status_code == 400
    assert api.put(API, {"bogus": 1}, format="json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        queued = api.post(PULL_API)
    assert queued.status_code == 202 and queued.json()["pull_pending"] is True
    body = api.get(API).json()
    assert body["last_status"] == "ok" and body["pull_pending"] is False
    assert body["last_result"]["sessions_created"] == 5
    assert body["pulled_until"] is not None and body["group_id"] == "g42"

    assert api.delete(API).status_code == 204
    assert api.get(API).status_code == 404
    assert len(sessions_of(tenant_a)) == 5  # imported sessions stay


def test_api_is_for_managers_only(tenant_a, tech, api_as, owner):
    connect(tenant_a, owner)
    api = api_as(tech)
    assert api.get(API).status_code == 403
    assert api.put(API, {"token": TOKEN_B}, format="json").status_code == 403
    assert api.post(PULL_API).status_code == 403


def test_page_card_save_and_pull_now(
    tenant_a, tech, owner, fake, client_as, frozen, django_capture_on_commit_callbacks
):
    client = client_as(owner)
    page = client.get(reverse("sessions:session-import"))
    assert "Connect TeamViewer" in page.content.decode()

    refused = client.post(reverse("sessions:teamviewer-settings"), {"token": ""})
    assert refused.status_code == 400
    assert "Enter the script token." in refused.content.decode()

    saved = client.post(reverse("sessions:teamviewer-settings"), {"token": TOKEN_A})
    assert saved.status_code == 302 and saved["Location"].endswith("#teamviewer")

    with django_capture_on_commit_callbacks(execute=True):
        pulled = client.post(reverse("sessions:teamviewer-pull"))
    assert pulled.status_code == 302
    html = client.get(reverse("sessions:session-import")).content.decode()
    assert "5 record(s) fetched; 5 session(s) imported" in html
    assert "Pulled up to" in html and "2026-11-11" in html  # the cursor, in Paris time

    # Refused records are listed on the card.
    fake.accounts[TOKEN_A].append(record(7, username="Nobody Here"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("sessions:teamviewer-pull"))
    html = client.get(reverse("sessions:session-import")).content.decode()
    assert "nothing was imported" in html and "“Nobody Here”" in html

    removed = client.post(reverse("sessions:teamviewer-settings"), {"remove": "1"})
    assert removed.status_code == 302
    with tenant_context(tenant_a):
        assert not TeamViewerConnection.objects.exists()


def test_technicians_do_not_see_the_card(tenant_a, tech, client_as):
    html = client_as(tech).get(reverse("sessions:session-import")).content.decode()
    assert 'id="teamviewer"' not in html
    assert client_as(tech).post(reverse("sessions:teamviewer-pull")).status_code == 403
