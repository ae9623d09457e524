"""/healthz, and one task sent through a real Redis broker to a real Celery worker."""

import os
import time

import pytest

from billing_site.testing.workers import Worker

BROKER = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


def redis_available() -> bool:
    import redis

    try:
        return redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


@pytest.mark.django_db
def test_healthz_reports_database(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_healthz_reports_broker_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from billing_site.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = None
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_task_runs_through_real_worker(tmp_path):
    if not redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable in CI")
        pytest.skip("Redis not running on this machine")
    from celery import Celery
    from celery.result import allow_join_result

    worker = Worker(tmp_path, broker=BROKER)
    # Not the current app: shared tasks elsewhere in the suite must stay on the project's
    # (eager) app, not bind to this client.
    client_app = Celery(broker=BROKER, backend=BROKER, set_as_current=False)
    try:
        started = time.monotonic()
        result = client_app.send_task("billing_site.worker_probe_task")
        # Celery's "never join inside a task" flag is process-wide: eager tasks run from
        # threads elsewhere in the suite (tests/invoices/test_concurrency.py) can leave it set.
        with allow_join_result():
            assert result.get(timeout=60) == {"database": "ok"}
        assert time.monotonic() - started < 60
    finally:
        worker.stop()
        client_app.close()
