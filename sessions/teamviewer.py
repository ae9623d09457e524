"""A client of TeamViewer's Web API connection report (httpx2), for the scheduled pull.

``GET {TEAMVIEWER_API_URL}/reports/connections`` with ``Authorization: Bearer <script
token>`` answers ``records`` (one per connection: ``id`` of the connection, ``deviceid``,
``devicename``, ``username``, ``groupname``, ``start_date``, ``end_date``, ``notes``, …),
``records_remaining`` and, while more are left, ``next_offset``: sent back as
``offset_id`` it gives the next page. ``from_date`` and ``to_date`` bound the period, in
ISO 8601 UTC (``2026-10-05T08:00:00Z``); ``groupid`` keeps one group's connections.

Errors come back as ``TeamViewerError`` with a message for people: 401 (the token is
wrong or deleted), 403 (it lacks the "Connection reports: read" permission), 429 (asked
again after TeamViewer's ``Retry-After``, a few times, then reported), 5xx and network
errors. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import httpx2
from django.conf import settings

from integrations.core.errors import retry_after_seconds

REPORTS_PATH = "/reports/connections"
ATTEMPTS_ON_429 = 4  # the first call and three more
FIRST_WAIT = 2.0  # seconds, doubled each time, when TeamViewer names no wait
MAX_WAIT = 60.0  # a longer Retry-After is reported instead of waited for
MAX_PAGES = 1000
PERMISSION = "Connection reports: read"


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


class TeamViewerError(Exception):
    """A pull that could not fetch the report. ``message`` is shown on the page."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status


def api_time(value: dt.datetime) -> str:
    """``value`` as TeamViewer reads dates: ISO 8601 in UTC, whole seconds, ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _detail(response: httpx2.Response) -> str:
    """TeamViewer's own words from an error body (``error_description`` / ``error``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    text = body.get("error_description") or body.get("error") or body.get("message") or ""
    return str(text)[:300]


def _error_for(response: httpx2.Response) -> TeamViewerError:
    code = response.status_code
    detail = _detail(response)
    said = f" TeamViewer said: “{detail}”." if detail else ""
    if code == 401:
        message = (
            "TeamViewer refused the script token (401): it is wrong, expired or was deleted. "
            "Create a script token in TeamViewer (Edit profile › Apps › Create script token) "
            f"with the “{PERMISSION}” permission and save it here.{said}"
        )
    elif code == 403:
        message = (
            f"The script token lacks the “{PERMISSION}” permission (403). Edit the token in "
            "TeamViewer (Edit profile › Apps), allow reading connection reports, or create a "
            f"new one and save it here.{said}"
        )
    elif code == 404:
        message = (
            "TeamViewer does not know this address (404): check TEAMVIEWER_API_URL "
            f"({settings.TEAMVIEWER_API_URL}).{said}"
        )
    elif code >= 500:
        message = (
            f"TeamViewer had a server error ({code}); nothing was imported. The next pull "
            f"tries again.{said}"
        )
    else:
        message = f"TeamViewer refused the request ({code}).{said}"
    return TeamViewerError(message, http_status=code)


class TeamViewerClient:
    """One script token's calls to the Web API. Use as a context manager."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.base_url = (base_url or settings.TEAMVIEWER_API_URL).rstrip("/")
        self.sleep = sleep or _sleep
        self.http = httpx2.Client(
            timeout=timeout or getattr(settings, "INTEGRATIONS_HTTP_TIMEOUT", 30.0),
            headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TeamViewerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str]) -> dict:
        wait = FIRST_WAIT
        for attempt in range(1, ATTEMPTS_ON_429 + 1):
            try:
                response = self.http.get(self.base_url + path, params=params)
            except httpx2.TransportError as exc:
                raise TeamViewerError(
                    f"TeamViewer could not be reached ({exc.__class__.__name__}: {exc}); "
                    "nothing was imported. The next pull tries again."
                ) from exc
            if response.status_code == 429:
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                delay = asked if asked is not None else wait
                if attempt == ATTEMPTS_ON_429 or delay > MAX_WAIT:
                    after = f" (it asked to wait {delay:g} s)" if asked is not None else ""
                    raise TeamViewerError(
                        f"TeamViewer is limiting requests (429) and still was after {attempt} "
                        f"tries{after}; nothing was imported. The next pull tries again.",
                        http_status=429,
                    )
                self.sleep(delay)
                wait *= 2
                continue
            if response.status_code != 200:
                raise _error_for(response)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise TeamViewerError(
                    "TeamViewer answered with something that is not a connection report "
                    "(no “records” list); nothing was imported."
                )
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def connection_reports(
        self, *, from_date: dt.datetime, to_date: dt.datetime, group_id: str = ""
    ) -> list[dict]:
        """Every connection record of the period, all pages (``offset_id`` = the previous
        page's ``next_offset``, until it has none)."""
        params = {"from_date": api_time(from_date), "to_date": api_time(to_date)}
        if group_id:
            params["groupid"] = group_id
        records: list[dict] = []
        seen_offsets: set[str] = set()
        for _page in range(MAX_PAGES):
            body = self._get(REPORTS_PATH, params)
            records.extend(body["records"])
            offset = body.get("next_offset")
            remaining = body.get("records_remaining")
            if not offset or remaining == 0:
                return records
            offset = str(offset)
            if offset in seen_offsets:
                raise TeamViewerError(
                    "TeamViewer sent the same page twice (next_offset repeated); nothing was "
                    "imported."
                )
            seen_offsets.add(offset)
            params["offset_id"] = offset
        raise TeamViewerError(
            f"TeamViewer's report has more than {MAX_PAGES} pages for this period; nothing "
            "was imported."
        )
