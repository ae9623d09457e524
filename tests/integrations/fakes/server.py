"""What both fakes share: a threaded loopback server, OAuth 2.0 with refresh-token
rotation, scripted failures and a log of every request."""

from __future__ import annotations

import abc
import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ACCESS_LIFETIME = 3600


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers or {}, content_type="application/json"
    )


@dataclass
class Scripted:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


class FakeServer(abc.ABC):
    """Base of a fake provider. Subclasses implement ``api(request)``."""

    client_id = "fake-client"
    client_secret = "fake-secret"

    def __init__(self):
        self.lock = threading.RLock()
        self.requests: list[dict] = []
        self.script: list[Scripted] = []
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: dict[str, dict] = {}  # current refresh token -> grant
        self.retired_refresh_tokens: set[str] = set()
        self.revoked = False
        self.hold_creates = 0.0  # seconds to sleep after storing a create, before answering
        self.creates_seen = threading.Event()
        self._server = None
        self._thread = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeServer:
        self._server = make_server("127.0.0.1", port, self.wsgi, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- test controls --------------------------------------------------------------

    def fail_next(self, *responses: Scripted) -> None:
        """The next API calls get these answers instead (OAuth endpoints excluded)."""
        with self.lock:
            self.script.extend(responses)

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens:
                self.access_tokens[token] = 0

    def revoke(self) -> None:
        with self.lock:
            self.revoked = True
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def api_requests(self, method: str | None = None, path_part: str = "") -> list[dict]:
        return [
            r
            for r in self.requests
            if (method is None or r["method"] == method) and path_part in r["path"]
        ]

    # --- WSGI -----------------------------------------------------------------------

    def wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == "/oauth/authorize":
            return self.authorize(request)
        if path == "/oauth/token":
            return self.token(request)
        body = request.get_data(as_text=True)
        with self.lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": path,
                    "args": dict(request.args),
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "body": json.loads(body)
                    if body and request.mimetype == "application/json"
                    else body,
                }
            )
            scripted = self.script.pop(0) if self.script and not path.startswith("/_fake") else None
        if scripted is not None:
            return json_response(scripted.body or {}, scripted.status, scripted.headers)
        return self.api(request)

    # --- OAuth 2.0 ------------------------------------------------------------------

    def extra_callback_params(self) -> dict:
        return {}

    def authorize(self, request: Request) -> Response:
        args = request.args
        problems = [
            name for name in ("client_id", "redirect_uri", "state", "scope") if not args.get(name)
        ]
        if args.get("response_type") != "code":
            problems.append("response_type=code")
        if args.get("client_id") and args["client_id"] != self.client_id:
            problems.append("known client_id")
        if problems:
            return Response("bad authorize request: " + ", ".join(problems), status=400)
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"redirect_uri": args["redirect_uri"], "scope": args["scope"]}
        params = {"code": code, "state": args["state"], **self.extra_callback_params()}
        return Response(
            status=302, headers={"Location": f"{args['redirect_uri']}?{urlencode(params)}"}
        )

    def _client_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return header[6:] == expected

    def _issue(self, grant: dict) -> dict:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = time.time() + ACCESS_LIFETIME
        self.refresh_tokens[refresh] = grant
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": ACCESS_LIFETIME,
            **self.token_extras(),
        }

    def token_extras(self) -> dict:
        return {}

    def token(self, request: Request) -> Response:
        if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
            return json_response({"error": "invalid_request"}, 400)
        if not self._client_ok(request):
            return json_response({"error": "invalid_client"}, 401)
        form = request.form
        with self.lock:
            self.requests.append(
                {
                    "method": "POST",
                    "path": "/oauth/token",
                    "args": {},
                    "headers": {},
                    "body": dict(form),
                }
            )
            if form.get("grant_type") == "authorization_code":
                grant = self.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return json_response({"error": "invalid_grant"}, 400)
                return json_response(self._issue(grant))
            if form.get("grant_type") == "refresh_token":
                old = form.get("refresh_token", "")
                grant = self.refresh_tokens.pop(old, None)
                if grant is None or self.revoked:
                    return json_response({"error": "invalid_grant"}, 400)
                # Rotation: the old refresh token stops working once a new one is issued.
                self.retired_refresh_tokens.add(old)
                return json_response(self._issue(grant))
        return json_response({"error": "unsupported_grant_type"}, 400)

    def bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.lock:
            expires = self.access_tokens.get(token)
        return expires is not None and expires > time.time()

    @abc.abstractmethod
    def api(self, request: Request) -> Response:
        """The provider's own endpoints (everything but OAuth)."""

    # --- the page a person uses in a trial -----------------------------------------

    def page(self, title: str, rows: list[tuple], pay_path: str) -> Response:
        body = [
            f"<h1>{title} (fake)</h1><table border=1 cellpadding=4>",
            "<tr><th>Number</th><th>Customer</th><th>Total</th><th>Balance</th><th></th></tr>",
        ]
        for number, customer, total, balance in rows:
            button = (
                (
                    f"<form method=post action='{pay_path}'><input type=hidden name=number "
                    f"value='{number}'><button>Mark paid</button></form>"
                )
                if balance
                else "paid"
            )
            body.append(
                f"<tr><td>{number}</td><td>{customer}</td><td>{total}</td>"
                f"<td>{balance}</td><td>{button}</td></tr>"
            )
        body.append("</table>")
        return Response("".join(body), content_type="text/html")
