"""A real ``celery worker`` process for tests where the point is the queue."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str | None:
    """The test database for a worker process: PostgreSQL only (off it the worker uses
    its own default database, which the test cannot share)."""
    if connection.vendor != "postgresql":
        return None
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """A real ``celery worker`` process (optionally with beat inside) on the test
    database and ``broker``; its output goes to a log file under ``log_dir``. With
    ``queue`` it consumes that queue only, so it takes no other test's tasks and no other
    worker takes its own (test runs on one machine share Redis' few databases)."""

    def __init__(
        self,
        log_dir: Path,
        *,
        broker: str,
        beat: bool = False,
        queue: str | None = None,
        **env: str,
    ):
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "billing_site",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
        ]
        if queue:
            command += ["--queues", queue]
        if beat:
            command += ["--beat", f"--schedule={log_dir / 'beat-schedule'}"]
        full_env = {
            **os.environ,
            "REDIS_URL": broker,
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": broker,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            **env,
        }
        url = database_url()
        if url:
            full_env["DATABASE_URL"] = url
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as a whole
        )

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, nothing acknowledged or given back."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self.log.close()

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the worker consumes (its start is slow on a loaded machine: Django and
        every task module are imported first); fail at once if it exits."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited\n--- worker log ---\n{self.output()}")
            return " ready." in self.log_path.read_text(errors="replace")

        wait_for(ready, timeout=timeout, what="the worker to start", worker=self)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def wait_for(predicate, *, timeout: float, what: str, worker: Worker | None = None):
    """Poll ``predicate`` until it is true; on timeout fail with the worker's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    details = f"\n--- worker log ---\n{worker.output()}" if worker else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{details}")


@contextlib.contextmanager
def empty_broker(url: str) -> Iterator:
    """A Redis database for one test module's broker, emptied and held by this test alone
    (xdist runs tests side by side); skipped off CI when Redis is not running."""
    import pytest
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable in CI")
        pytest.skip("Redis not running on this machine")
    lock_name = "worker-tests-lock"
    lock = client.lock(lock_name, timeout=600, blocking_timeout=600)
    assert lock.acquire()
    try:
        for key in client.scan_iter():
            if key != lock_name.encode():
                client.delete(key)
        yield client
    finally:
        lock.release()
        client.close()
