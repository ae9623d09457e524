"""Progress of background jobs a page polls (the session import's streamed files, invoice
batch runs), kept in the cache.

A job runs in one transaction, so progress written to the database would not be seen by
the page until it commits. It is kept in the cache instead, outside any transaction:
Redis when CACHE_URL / REDIS_URL is set (shared by the web processes and the workers),
local memory in the demo, where the task runs in the web process itself. A queued or
running job not heard of for ``STALE_AFTER`` is taken as lost (its worker died); the
jobs are all or nothing and refuse to do twice what is done, so they can be started
again.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, fields

from django.core.cache import cache

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STALE_AFTER = dt.timedelta(minutes=10)
TTL = 24 * 3600


@dataclass
class TrackedJob:
    """What every polled job has: its state, its outcome message once over, and when it
    started and was last heard of. A job's own counters go in a subclass, with the
    ``percent`` they give."""

    state: str = QUEUED
    message: str = ""
    started_at: float = 0.0
    updated_at: float = 0.0

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING) and not self.stale

    @property
    def stale(self) -> bool:
        return (
            self.state in (QUEUED, RUNNING)
            and time.time() - self.updated_at > STALE_AFTER.total_seconds()
        )

    @property
    def percent(self) -> int:
        return 100 if self.state == DONE else 0

    def as_dict(self) -> dict:
        return {**asdict(self), "percent": self.percent, "active": self.active}


@dataclass
class JobProgress(TrackedJob):
    """A job's current step: ``done`` of ``total`` units of work, in words."""

    step: str = ""
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0

    @property
    def seconds(self) -> float:
        """How long it has run (or ran)."""
        return max(0.0, self.updated_at - self.started_at) if self.started_at else 0.0


def load(key: str, cls: type[TrackedJob] = JobProgress) -> TrackedJob | None:
    data = cache.get(key)
    if not data:
        return None
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


def save(key: str, progress: TrackedJob) -> None:
    progress.updated_at = time.time()
    if not progress.started_at:
        progress.started_at = progress.updated_at
    cache.set(key, asdict(progress), TTL)


def claim(key: str, progress: TrackedJob) -> TrackedJob | None:
    """Record ``progress`` under ``key`` unless an active job holds it: None when
    claimed, else the active job's progress. ``cache.add`` is atomic (Redis ``SET NX``),
    so of two requests at once one gets the key; a finished or lost job's record is
    replaced."""
    progress.updated_at = progress.started_at = time.time()
    if cache.add(key, asdict(progress), TTL):
        return None
    current = load(key, type(progress))
    if current is not None and current.active:
        return current
    cache.delete(key)
    if cache.add(key, asdict(progress), TTL):
        return None
    return load(key, type(progress))


def delete(key: str) -> None:
    cache.delete(key)
