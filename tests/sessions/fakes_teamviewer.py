"""A fake TeamViewer Web API on loopback (Werkzeug): the connection report only.

Checked on every call: ``GET /api/v1/reports/connections``, ``Authorization: Bearer
<a script token it knows>`` (each token sees its own account's records), ``from_date`` and ``to_date`` in ISO 8601 UTC
(``2026-10-05T08:00:00Z``, from before to), ``offset_id`` only as the previous page's
``next_offset``. Records are served ``page_size`` at a time, with ``records_remaining``
and ``next_offset`` while more are left. Failures can be scripted (401, 403, 429 with a
Retry-After, 5xx); every request is logged for the tests to read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass, field

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

PATH = "/api/v1/reports/connections"
API_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers or {}, content_type="application/json"
    )


def _time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@dataclass
class Scripted:
    status: int
    body: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


class FakeTeamViewer:
    def __init__(self, accounts: dict[str, list[dict]], *, page_size: int = 2):
        # script token -> the connection records that token sees (one account each)
        self.accounts = accounts
        self.page_size = page_size
        self.requests: list[dict] = []
        self.problems: list[str] = []  # request shapes TeamViewer would refuse
        self.script: list[Scripted] = []
        self.offsets: dict[str, int] = {}  # next_offset handed out -> index of the next record
        self.lock = threading.Lock()
        self._server = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeTeamViewer:
        self._server = make_server(
            "127.0.0.1", 0, self.wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """What TEAMVIEWER_API_URL is set to."""
        return f"http://127.0.0.1:{self.port}/api/v1"

    def fail_next(self, *answers: Scripted) -> None:
        with self.lock:
            self.script.extend(answers)

    # --- WSGI -----------------------------------------------------------------------

    def wsgi(self, environ, start_response):
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "args": dict(request.args),
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                }
            )
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return _json(scripted.body, scripted.status, scripted.headers)
        if request.path != PATH:
            return _json({"error": "not_found"}, 404)
        if request.method != "GET":
            return _json({"error": "method_not_allowed"}, 405)
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        if token not in self.accounts:
            return _json(
                {"error": "invalid_token", "error_description": "The token is invalid."}, 401
            )
        return self.report(request, self.accounts[token])

    def _problem(self, text: str) -> Response:
        self.problems.append(text)
        return _json({"error": "invalid_request", "error_description": text}, 400)

    def report(self, request: Request, records: list[dict]) -> Response:
        args = request.args
        for name in ("from_date", "to_date"):
            if name in args and not API_TIME.match(args[name]):
                return self._problem(f"{name} must be ISO 8601 UTC, got {args[name]!r}")
        if not ("from_date" in args and "to_date" in args):
            return self._problem("from_date and to_date are both needed")
        start, end = _time(args["from_date"]), _time(args["to_date"])
        if start >= end:
            return self._problem("from_date must be before to_date")
        known = {"from_date", "to_date", "offset_id", "groupid"}
        if set(args) - known:
            return self._problem(f"unexpected parameters {sorted(set(args) - known)}")
        matching = [
            record
            for record in records
            if start <= _time(record["start_date"]) <= end
            and ("groupid" not in args or record.get("groupid") == args["groupid"])
        ]
        begin = 0
        if "offset_id" in args:
            with self.lock:
                if args["offset_id"] not in self.offsets:
                    self.problems.append(f"unknown offset_id {args['offset_id']!r}")
                    return _json({"error": "invalid_request"}, 400)
                begin = self.offsets[args["offset_id"]]
        page = matching[begin : begin + self.page_size]
        remaining = len(matching) - begin - len(page)
        body = {"records": page, "records_remaining": remaining}
        if remaining > 0:
            offset = page[-1]["id"]
            with self.lock:
                self.offsets[offset] = begin + len(page)
            body["next_offset"] = offset
        return _json(body)
