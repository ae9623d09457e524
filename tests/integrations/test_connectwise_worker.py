"""The ConnectWise monthly push through real Celery workers and beat, on Redis and
PostgreSQL, against the fake ConnectWise site on loopback: a due day missed while beat was
down is sent once when it is back; two ticks racing, and a "Send now" racing a tick, give
one delivery and one addition per product; a worker killed in the middle of a push is
finished by the next worker without a second addition.

The workers run on the real clock, so the schedules are set relative to today (the
tenant's zone): the connection was made ten days ago, and its day is yesterday (missed)
or today (due now).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection, connections
from django.utils import timezone

from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from billing_site.testing.workers import Worker, wait_for
from integrations.connectwise import services as cw
from integrations.core import schedules, services
from integrations.core.models import Connection, Delivery, DeliveryAttempt, DeliveryStatus
from tests.contracts.factories import ContractFactory, ContractProductLineFactory, ProductFactory
from tests.sessions.factories import HostFactory

from .conftest import connect_connectwise

# Redis database 8 is this module's own: every test here empties it first.
BROKER = os.environ.get("CONNECTWISE_TEST_BROKER_URL", "redis://127.0.0.1:6379/8")
SWEEP = "integrations.deliveries_sweep_task"
RUN = "integrations.delivery_run_task"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.broker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker_database"),
]


# --- Set-up -------------------------------------------------------------------------------


def local_today(tenant) -> dt.date:
    return schedules.local_today(tenant.time_zone, timezone.now())


def acme_on_day(tenant, fake, *, day: int) -> dict:
    """ConnectWise connected ten days ago, sending on ``day`` of every month; ACME billed
    20 managed endpoints at 12.50 and one "device care" per active host (2 hosts at 7.25),
    each product mapped to its own agreement of ACME's company."""
    with tenant_context(tenant):
        link = connect_connectwise(fake)
        Connection.objects.filter(pk=link.pk).update(
            connected_at=timezone.now() - dt.timedelta(days=10)
        )
        services.connection_schedule_set(connection=link, schedule="monthly", day=day)
        org = OrganizationFactory(tenant=tenant, name="ACME", company_number="ACME")
        contract = ContractFactory(
            tenant=tenant,
            customer=org,
            recurring=True,
            start_date=dt.date(local_today(tenant).year - 1, 1, 1),
        )
        mep = ProductFactory(tenant=tenant, sku="MEP", name="Managed endpoint")
        dev = ProductFactory(
            tenant=tenant, sku="DEV", name="Device care", unit="device", unit_price=Decimal("7.25")
        )
        ContractProductLineFactory(
            tenant=tenant,
            contract=contract,
            product=mep,
            quantity=Decimal("20"),
            unit_price=Decimal("12.5000"),
        )
        ContractProductLineFactory(
            tenant=tenant, contract=contract, product=dev, quantity_mode="per_device"
        )
        for _ in range(2):
            HostFactory(tenant=tenant, group=None, organization=org)
        company = fake.add_company("ACME", "ACME Corporation")
        managed = fake.add_agreement(company, "ACME Managed", "Managed Services")
        devices = fake.add_agreement(company, "ACME Devices", "Managed Services")
        fake.add_product("MEP")
        fake.add_product("DEV")
        cw.customer_company_set(
            organization=org, company_id=str(company["id"]), company_name="ACME Corporation"
        )
        for sku, agreement in (("MEP", managed), ("DEV", devices)):
            cw.product_agreement_set(
                organization=org,
                sku=sku,
                agreement_id=str(agreement["id"]),
                agreement_name=agreement["name"],
            )
        link.refresh_from_db()
    return {"connection": link, "org": org, "managed": managed, "devices": devices}


def worker_env(fake, token_key: str, **more: str) -> dict[str, str]:
    """The fake's settings and the token key, beat's sweep every second, the other
    periodic tasks out of the way."""
    return {
        **fake.env(),
        "INTEGRATIONS_KEYS": token_key,
        "INTEGRATIONS_SWEEP_EVERY": "1",
        "INTEGRATIONS_SYNC_EVERY": "3600",
        "PDF_SWEEP_EVERY": "3600",
        "RECEIVABLES_RUN_EVERY": "3600",
        "TEAMVIEWER_PULL_EVERY": "3600",
        **more,
    }


@pytest.fixture
def broker_client():
    from celery import Celery

    app = Celery(broker=BROKER, set_as_current=False)
    yield app
    app.close()


@contextlib.contextmanager
def running(*workers: Worker):
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.kill()


# --- Reading back ---------------------------------------------------------------------------


def pushes() -> list[Delivery]:
    return list(Delivery.all_tenants.order_by("pk"))


def done(expected: int = 1):
    def check():
        rows = pushes()
        return len(rows) == expected and all(r.status == DeliveryStatus.DONE for r in rows)

    return check


def quiet(redis_broker):
    """Nothing waiting in the queue nor taken and unacknowledged: every task sent ran."""
    return lambda: redis_broker.llen("celery") == 0 and redis_broker.hlen("unacked") == 0


def sweeps_run(worker: Worker) -> int:
    text = worker.log_path.read_text(errors="replace")
    return len(re.findall(rf"Task {re.escape(SWEEP)}\[[^\]]+\] succeeded", text))


def assert_no_task_failed(*workers: Worker) -> None:
    for worker in workers:
        text = worker.log_path.read_text(errors="replace")
        assert " raised unexpected" not in text and "ERROR/" not in text, worker.output()


def additions_by_product(fake, acme) -> dict[str, list[tuple]]:
    return {
        name: [
            (a["product"]["identifier"], a["quantity"], a["unitPrice"], a["effectiveDate"])
            for a in fake.additions(acme[name]["id"])
        ]
        for name in ("managed", "devices")
    }


def assert_sent_once(fake, acme, period: dt.date) -> Delivery:
    """One delivery for (ACME, ``period``), done; one addition per product, created by one
    POST each, effective from the month's first day."""
    (delivery,) = pushes()
    assert (delivery.organization_id, delivery.period_start) == (acme["org"].pk, period)
    assert delivery.status == DeliveryStatus.DONE, delivery.last_error
    effective = f"{period:%Y-%m-%d}T00:00:00Z"
    assert additions_by_product(fake, acme) == {
        "managed": [("MEP", 20.0, 12.5, effective)],
        "devices": [("DEV", 2.0, 7.25, effective)],
    }
    assert len(fake.api_requests("POST", "/additions")) == 2
    assert fake.api_requests("PATCH") == []
    assert delivery.our_total == Decimal("264.50")  # 20 × 12.50 + 2 × 7.25
    return delivery


# --- Holding the delivery table ---------------------------------------------------------------


def raw_connection():
    """A connection of its own to the test database, outside Django's."""
    import psycopg2

    db = connection.settings_dict
    return psycopg2.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"],
        port=db["PORT"],
    )


@contextlib.contextmanager
def delivery_table_held():
    """The delivery table locked from another connection: every tick that reaches it
    waits there, and all of them go at once when ``release`` is called."""
    holder = raw_connection()
    holder.cursor().execute("LOCK TABLE integrations_delivery IN ACCESS EXCLUSIVE MODE")
    try:
        yield holder.rollback
    finally:
        holder.rollback()
        holder.close()


def waiting_on_deliveries() -> int:
    """How many connections wait for the delivery table (asked in autocommit: a fresh
    snapshot of pg_locks each time)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND NOT l.granted "
            "AND l.relation = 'integrations_delivery'::regclass"
        )
        return cursor.fetchone()[0]


# --- The tests ----------------------------------------------------------------------------------


def test_a_day_missed_while_beat_was_down_is_sent_once_when_beat_is_back(
    tenant_a, fake_cw, redis_broker, tmp_path, token_key
):
    today = local_today(tenant_a)
    yesterday = today - dt.timedelta(days=1)
    acme = acme_on_day(tenant_a, fake_cw, day=yesterday.day)
    period = schedules.month_of(yesterday)
    assert schedules.last_due_period(today, yesterday.day) == period
    # Nothing ran on the day: no worker, no beat.
    assert pushes() == [] and fake_cw.all_additions() == []

    env = worker_env(fake_cw, token_key)
    with running(Worker(tmp_path, broker=BROKER, beat=True, **env)) as (first,):
        wait_for(done(), timeout=60, what="the missed month to be sent", worker=first)
        seen = sweeps_run(first)
        wait_for(
            lambda: sweeps_run(first) >= seen + 2,
            timeout=30,
            what="two more ticks",
            worker=first,
        )
        first.stop()
    assert_sent_once(fake_cw, acme, period)

    # Beat stopped and started again: its first ticks find nothing more to send.
    with running(Worker(tmp_path, broker=BROKER, beat=True, **env)) as (second,):
        wait_for(lambda: sweeps_run(second) >= 2, timeout=30, what="two ticks", worker=second)
        second.stop()
    assert_no_task_failed(first, second)
    delivery = assert_sent_once(fake_cw, acme, period)
    assert delivery.attempts == 1
    assert f"{period:%B %Y}: DEV × 2 added to agreement ACME Devices" in delivery.summary


def test_two_ticks_racing_send_once(
    tenant_a, fake_cw, redis_broker, tmp_path, token_key, broker_client
):
    acme = acme_on_day(tenant_a, fake_cw, day=local_today(tenant_a).day)
    env = worker_env(fake_cw, token_key)
    workers = [Worker(tmp_path, broker=BROKER, **env) for _ in range(2)]
    with running(*workers), delivery_table_held() as release:
        for _ in range(2):
            broker_client.send_task(SWEEP)
        # Each worker runs one tick; both wait at the delivery table, then go at once.
        wait_for(
            lambda: waiting_on_deliveries() >= 2,
            timeout=60,
            what="both ticks to reach the delivery table",
            worker=workers[0],
        )
        release()
        wait_for(done(), timeout=60, what="the month to be sent", worker=workers[0])
        wait_for(quiet(redis_broker), timeout=30, what="every task to have run")
        for worker in workers:
            worker.stop()
    assert_no_task_failed(*workers)
    assert all(sweeps_run(worker) == 1 for worker in workers)
    delivery = assert_sent_once(fake_cw, acme, schedules.month_of(local_today(tenant_a)))
    assert DeliveryAttempt.all_tenants.filter(delivery=delivery).count() == 1


@pytest.mark.parametrize("first", ["tick", "send now"])
def test_send_now_racing_a_tick_sends_once(
    first, tenant_a, fake_cw, redis_broker, tmp_path, token_key, broker_client, monkeypatch
):
    """Send now has locked the connection and found the month not planned yet; the tick
    plans it just before Send now inserts its row ("tick"), or just after, while Send
    now's transaction is still open ("send now")."""
    acme = acme_on_day(tenant_a, fake_cw, day=local_today(tenant_a).day)
    # The web process sends its task through the broker, to the worker, as in production
    # (tests otherwise run tasks in-process).
    monkeypatch.setattr(
        "integrations.core.tasks.delivery_run_task",
        SimpleNamespace(delay=lambda *args: broker_client.send_task(RUN, args=list(args))),
    )
    observer = raw_connection()
    observer.autocommit = True  # a fresh snapshot of the catalog views every time

    def observe(sql: str, params=()) -> int:
        with observer.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    at_insert = threading.Event()
    tick_sent = threading.Event()
    real_insert = cw._insert

    def insert_racing_the_tick(link, pairs, now):
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            ours = cursor.fetchone()[0]
        at_insert.set()
        assert tick_sent.wait(60)
        if first == "tick":
            # The tick's row is in (its transaction holds the table for writing), or
            # already committed.
            wait_for(
                lambda: (
                    observe(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                        "WHERE d.datname = current_database() AND l.granted AND l.pid <> %s "
                        "AND l.mode = 'RowExclusiveLock' "
                        "AND l.relation = 'integrations_delivery'::regclass",
                        [ours],
                    )
                    or observe("SELECT count(*) FROM integrations_delivery")
                ),
                timeout=30,
                what="the tick to insert its row",
            )
            return real_insert(link, pairs, now)
        created = real_insert(link, pairs, now)
        # The tick waits for this transaction: its row would be the same one.
        wait_for(
            lambda: observe(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s",
                [ours],
            ),
            timeout=30,
            what="the tick to wait for Send now",
        )
        return created

    monkeypatch.setattr(cw, "_insert", insert_racing_the_tick)
    outcome: dict = {}

    def press_send_now():
        try:
            with tenant_context(tenant_a):
                outcome["result"] = cw.send_now(connection=acme["connection"])
        except Exception as exc:  # reported by the test below
            outcome["error"] = exc
        finally:
            connections.close_all()

    worker = Worker(tmp_path, broker=BROKER, **worker_env(fake_cw, token_key))
    button = threading.Thread(target=press_send_now)
    try:
        with running(worker):
            button.start()
            assert at_insert.wait(60)
            broker_client.send_task(SWEEP)
            tick_sent.set()
            button.join(timeout=60)
            assert not button.is_alive()
            if "error" in outcome:
                raise outcome["error"]
            wait_for(done(), timeout=60, what="the month to be sent", worker=worker)
            wait_for(quiet(redis_broker), timeout=30, what="every task to have run")
            worker.stop()
    finally:
        observer.close()
    assert_no_task_failed(worker)
    assert sweeps_run(worker) == 1
    period = schedules.month_of(local_today(tenant_a))
    delivery = assert_sent_once(fake_cw, acme, period)
    assert DeliveryAttempt.all_tenants.filter(delivery=delivery).count() == 1
    month = f"{period:%B %Y}"
    expected = {
        # The tick planned it: Send now says so (sent already, or still on its way).
        "tick": {
            f"{month} is on its way for ACME.",
            f"{month} was already sent for ACME: nothing sent again.",
        },
        "send now": {f"sending {month} for ACME."},
    }
    assert outcome["result"].message in expected[first]


def test_a_worker_killed_mid_push_is_finished_by_the_next_without_a_second_addition(
    tenant_a, fake_cw, redis_broker, tmp_path, token_key, broker_client
):
    acme = acme_on_day(tenant_a, fake_cw, day=local_today(tenant_a).day)
    # Short clocks: the killed attempt's lease ends after 6 s, the broker hands an
    # unacknowledged task out again after 4 s, a task queued 3 s ago may be queued again.
    env = worker_env(
        fake_cw,
        token_key,
        INTEGRATIONS_LEASE_SECONDS="6",
        BROKER_VISIBILITY_TIMEOUT="4",
        INTEGRATIONS_REQUEUE_AFTER="3",
    )
    fake_cw.hold_creates = 8.0  # stores the addition, then answers only after 8 s
    first = Worker(tmp_path, broker=BROKER, **env)
    with running(first):
        broker_client.send_task(SWEEP)  # one tick
        assert fake_cw.creates_seen.wait(60), first.output()
        first.kill()  # ConnectWise has the first addition; we never heard back
    fake_cw.hold_creates = 0
    (stored,) = fake_cw.all_additions()
    assert stored["product"]["identifier"] == "DEV"  # products go in SKU order
    (killed,) = pushes()
    assert killed.status == DeliveryStatus.RUNNING and killed.attempts == 1
    # The push's task was taken and never acknowledged: Redis keeps it aside, invisible.
    (taken,) = redis_broker.hkeys("unacked")

    time.sleep(4)  # past the visibility timeout: the next worker takes it back at start
    second = Worker(tmp_path, broker=BROKER, beat=True, **env)
    with running(second):
        wait_for(done(), timeout=60, what="the killed push to be finished", worker=second)
        wait_for(
            lambda: not redis_broker.hexists("unacked", taken),
            timeout=30,
            what="the killed task to be handed out again and run",
            worker=second,
        )
        second.stop()
    assert_no_task_failed(second)
    delivery = assert_sent_once(fake_cw, acme, schedules.month_of(local_today(tenant_a)))
    # The first addition was found by its lookup, not posted again.
    assert len(fake_cw.api_requests("POST")) == 2
    assert delivery.attempts == 2
    assert "DEV × 2 already on agreement ACME Devices" in delivery.summary
    assert "MEP × 20 added to agreement ACME Managed" in delivery.summary
