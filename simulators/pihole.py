"""A loopback Pi-hole v6: the REST API parts BaluPi uses, with FTL v6.4.1's semantics.

Written from FTL v6.4.1 (``src/api/auth.c``, ``src/api/api.c``, ``src/api/config.c``,
``src/config/validator.c``; see ``shared/reference/library-apis.md`` §2):

* ``POST /api/auth {"password": ...}`` → 200 with ``session.sid``, ``csrf`` and
  ``validity`` (seconds left); 401 "password incorrect"; 400 for a body without a
  string password; 429 ``api_seats_exceeded`` when all ``max_sessions`` (16) seats hold
  unexpired sessions (expired ones are reclaimed during login); 429 ``rate_limiting``.
  The app password logs in too, with a session that may not change config.
* The session id is read from the ``sid`` or ``X-FTL-SID`` header or the ``sid`` query
  parameter. Every authenticated request moves the session's expiry to now + timeout.
  An unknown or expired id gets 401 ``unauthorized``; an expired session keeps its seat
  until a login reclaims it.
* ``DELETE /api/auth`` → 204 without a body, seat freed; 401 with a session object when
  the id is missing, unknown or expired (FTL's 404 branch cannot be reached here).
* ``GET /api/config`` and ``GET /api/config/{path}`` (any session, app sessions
  included) → 200 ``{"config": {...}, "took": ...}`` with the subtree at ``path``
  (a dotted key with ``/`` for ``.``) of the items the simulator models: ``dns.hosts``,
  ``webserver.api.app_sudo``, ``webserver.api.max_sessions`` and
  ``webserver.session.timeout``. So ``GET /api/config/dns/hosts`` →
  ``{"config": {"dns": {"hosts": [...]}}}`` and ``GET
  /api/config/webserver/api/app_sudo`` → ``{"config": {"webserver": {"api":
  {"app_sudo": false}}}}``. As in FTL (``get_json_config`` keeps the items whose path
  starts with the requested one), a path that names no item is no error: it answers
  200 ``{"config": {}}``, neither 404 nor 400. ``?detailed=true`` is not modelled.
* ``PUT /api/config/dns/hosts/{value}`` → 201 ``{"took": ...}``; 400 "Item already
  present" (exact ``strcmp``), 400 "Invalid value" from the validator, 400 when the
  list is forced by an environment variable. ``DELETE`` of the same path → 204 without a
  body, 404 ``{"took": ...}`` when absent. The path is URL-decoded like civetweb does
  it (``%XX`` and ``+`` → space) before it is split at ``/``.
* App-password sessions get 403 ``forbidden`` "Unable to change configuration
  (read-only)" on config writes unless ``app_sudo`` (``webserver.api.app_sudo``) is on.
* Anything else → 404 ``not_found``.

Like the other simulators it can be refused (port closed), silent (connections
accepted, nothing comes back) or slow (``latency``), and it can answer like no Pi-hole
should (``hostile``, see ``simulators.hostile``): the request still has its effect
(a login takes a seat), only the reply is replaced.

Run it alone with ``python -m simulators.pihole --port 18080 --password secret``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import ipaddress
import json
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from .hostile import Hostile, hostile_response
from .server import LoopbackHttpServer

DEFAULT_SESSION_TIMEOUT = 1800
"""``webserver.session.timeout``: seconds a session lives after its last request."""
DEFAULT_MAX_SESSIONS = 16
"""``webserver.api.max_sessions``."""

AUTH_PATH = "/api/auth"
CONFIG_PATH = "/api/config"
HOSTS_PATH = "/api/config/dns/hosts"
HOSTS_KEY = "dns.hosts"

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


class PiholeMode(StrEnum):
    """How the simulated Pi-hole behaves towards new requests."""

    UP = "up"
    REFUSED = "refused"
    SILENT = "silent"


@dataclass(slots=True)
class PiholeSession:
    """One API seat."""

    sid: str
    csrf: str
    app: bool
    """Logged in with the app password."""
    valid_until: float


class PiholeSimulator(LoopbackHttpServer):
    """One simulated Pi-hole v6 on ``(host, port)``; the port survives mode changes.

    ``hosts`` is the ``dns.hosts`` array: seed it and inspect it directly.
    ``password``, ``app_password``, ``app_sudo``, ``session_timeout``,
    ``max_sessions``, ``rate_limited`` and ``hosts_from_env`` are plain attributes
    that the next request sees.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        password: str | None = "pihole-secret",  # noqa: S107 -- a made-up test password
        app_password: str | None = None,
        app_sudo: bool = False,
        hosts: list[str] | None = None,
    ) -> None:
        """Prepare a Pi-hole; nothing listens until :meth:`start`.

        Args:
            host: Address to listen on.
            port: HTTP port; 0 picks a free one at start and keeps it.
            password: The web interface password; None is a Pi-hole without one (every
                request is allowed; login answers ``sid: null``).
            app_password: The app password, if one is set.
            app_sudo: ``webserver.api.app_sudo``: app sessions may change config.
            hosts: Initial ``dns.hosts`` records.
        """
        super().__init__(host, port)
        self.password = password
        self.app_password = app_password
        self.app_sudo = app_sudo
        self.hosts: list[str] = list(hosts or [])
        """``dns.hosts``: "IP HOSTNAME [HOSTNAME...]" records, in order."""
        self.hosts_from_env = False
        """``dns.hosts`` is forced by an environment variable (FTLCONF_dns_hosts)."""
        self.session_timeout: float = DEFAULT_SESSION_TIMEOUT
        self.max_sessions = DEFAULT_MAX_SESSIONS
        self.rate_limited = False
        """Login attempts get 429 ``rate_limiting`` (FTL's brute-force limiter)."""
        self.clock: Callable[[], float] = time.monotonic
        """Clock for session expiry; tests may replace it to age sessions."""
        self.logins = 0
        """Successful logins (a new seat each)."""
        self.failed_logins = 0
        """Login attempts answered 401."""
        self.logouts = 0
        """Sessions ended with ``DELETE /api/auth``."""
        self.requests: Counter[tuple[str, str]] = Counter()
        """Requests by (method, URL-decoded path), in every mode but refused."""
        self.sessions: dict[str, PiholeSession] = {}
        """Seats in use by session id, expired ones included until a login reclaims
        them."""
        self.hostile: Hostile | None = None
        """Answer every request with this instead (in every mode but refused)."""
        self._mode = PiholeMode.UP

    @property
    def mode(self) -> PiholeMode:
        """The current behaviour."""
        return self._mode

    @property
    def active_sessions(self) -> int:
        """Seats held by unexpired sessions."""
        now = self.clock()
        return sum(1 for s in self.sessions.values() if s.valid_until >= now)

    @property
    def writes(self) -> int:
        """Config-changing requests (PUT, DELETE, PATCH under ``/api/config``)."""
        return sum(
            count
            for (method, path), count in self.requests.items()
            if method in {"PUT", "DELETE", "PATCH"} and path.startswith("/api/config")
        )

    async def start(self) -> None:
        """Start serving; with port 0 a free port is chosen and kept."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        await self._start_app(app)

    async def stop(self) -> None:
        """Stop serving and release the port."""
        await self._stop_app()

    async def set_mode(self, mode: PiholeMode) -> None:
        """Change behaviour; ``REFUSED`` closes the port, leaving it reopens it."""
        self._mode = mode
        await self._set_reachability(
            refused=mode is PiholeMode.REFUSED, silent=mode is PiholeMode.SILENT
        )

    def expire_sessions(self) -> None:
        """Let every session run out: they keep their seats until the next login."""
        past = self.clock() - 1
        for session in self.sessions.values():
            session.valid_until = past

    def open_session(self, *, app: bool = False) -> str:
        """Take a seat without HTTP (a session some other client leaked); its id."""
        session = PiholeSession(
            sid=_token(), csrf=_token(), app=app, valid_until=self._expiry()
        )
        self.sessions[session.sid] = session
        return session.sid

    # -- HTTP ---------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # civetweb decodes the whole path (form-style: "+" too) before FTL splits it.
        path = unquote_plus(request.raw_path.partition("?")[0])
        self.requests[request.method, path] += 1
        await self._gate()
        real = await self._answer(request, path)
        if self.hostile is None or not isinstance(real, web.Response):
            return real
        wrong_types = WRONG_LOGIN if path == AUTH_PATH else WRONG_CONFIG
        return await hostile_response(
            request, self.hostile, real, wrong_types=wrong_types
        )

    async def _answer(self, request: web.Request, path: str) -> web.StreamResponse:
        reply = _Reply(time.perf_counter())
        method = request.method
        if path == AUTH_PATH and method in {"GET", "POST", "DELETE"}:
            return await self._auth(request, reply)
        value = path.removeprefix(HOSTS_PATH + "/")
        is_item = value not in {"", path}
        is_config = path == CONFIG_PATH or path.startswith(CONFIG_PATH + "/")
        if (is_config and method == "GET") or (is_item and method in {"PUT", "DELETE"}):
            authorized, session, _message = self._check_auth(request)
            if not authorized:
                return reply.error(401, "unauthorized", "Unauthorized")
            if method == "GET":
                requested = config_path(path.removeprefix(CONFIG_PATH).lstrip("/"))
                return reply.json({"config": select_config(self.config(), requested)})
            return self._put_delete(method, value, session, reply)
        return reply.error(404, "not_found", "Not found", request.raw_path)

    def config(self) -> dict[str, Any]:
        """The config items the simulator models, nested like FTL's ``/api/config``."""
        return {
            "dns": {"hosts": list(self.hosts)},
            "webserver": {
                "session": {"timeout": int(self.session_timeout)},
                "api": {"max_sessions": self.max_sessions, "app_sudo": self.app_sudo},
            },
        }

    def _check_auth(
        self, request: web.Request
    ) -> tuple[bool, PiholeSession | None, str]:
        """FTL's ``check_client_auth``: (authorized, session, message).

        Without a password everything is allowed and there is no session.
        """
        if self.password is None:
            return True, None, "no password set"
        sid = (
            request.headers.get("sid")
            or request.headers.get("X-FTL-SID")
            or request.query.get("sid")
        )
        if not sid:
            return False, None, "no SID provided"
        session = self.sessions.get(sid)
        if session is None:
            return False, None, "session unknown"
        if session.valid_until < self.clock():
            return False, None, "session expired"
        session.valid_until = self._expiry()
        return True, session, "correct password"

    async def _auth(self, request: web.Request, reply: _Reply) -> web.StreamResponse:
        password: str | None = None
        if request.method == "POST":
            password_or_error = await self._login_password(request, reply)
            if isinstance(password_or_error, web.Response):
                return password_or_error
            password = password_or_error
        authorized, session, message = self._check_auth(request)
        if authorized and not password:
            return self._auth_status(request, reply, session, message)
        if request.method == "DELETE":
            return self._auth_status(request, reply, None, message)
        if password is None:
            # GET without a valid session.
            return reply.session(401, None, message, self.clock())
        return self._login(reply, password)

    @staticmethod
    async def _login_password(
        request: web.Request, reply: _Reply
    ) -> str | web.Response:
        """The password of a login body, or the 400 FTL answers a bad body with."""
        raw = await request.read()
        if not raw:
            return reply.error(400, "bad_request", "No request body data")
        try:
            body = json.loads(raw)
        except ValueError as err:
            return reply.error(
                400,
                "bad_request",
                "Invalid request body data (no valid JSON), error at hint",
                str(err),
            )
        if not isinstance(body, dict) or "password" not in body:
            return reply.error(400, "bad_request", "No password found in JSON payload")
        password = body["password"]
        if not isinstance(password, str):
            return reply.error(
                400, "bad_request", "Field password has to be of type 'string'"
            )
        return password

    def _auth_status(
        self,
        request: web.Request,
        reply: _Reply,
        session: PiholeSession | None,
        message: str,
    ) -> web.StreamResponse:
        now = self.clock()
        if request.method == "DELETE":
            if session is None:
                return reply.session(
                    401, None, message, now, no_password=self.password is None
                )
            del self.sessions[session.sid]
            self.logouts += 1
            return web.Response(status=204)
        return reply.session(200, session, message, now, no_password=session is None)

    def _login(self, reply: _Reply, password: str) -> web.StreamResponse:
        now = self.clock()
        if self.password is None:
            # FTL checks the given password against an unset hash: "incorrect", and
            # still answers with the empty-password session (valid, no sid).
            return reply.session(200, None, "password incorrect", now, no_password=True)
        if self.rate_limited:
            return reply.error(429, "rate_limiting", "Rate-limiting login attempts")
        if secrets.compare_digest(password, self.password):
            app = False
        elif self.app_password is not None and secrets.compare_digest(
            password, self.app_password
        ):
            app = True
        else:
            self.failed_logins += 1
            return reply.session(401, None, "password incorrect", now)
        for sid, old in list(self.sessions.items()):
            if old.valid_until < now:
                del self.sessions[sid]
        if len(self.sessions) >= self.max_sessions:
            return reply.error(
                429,
                "api_seats_exceeded",
                "API seats exceeded",
                "increase webserver.api.max_sessions",
            )
        sid = self.open_session(app=app)
        self.logins += 1
        message = "app-password correct" if app else "password correct"
        return reply.session(200, self.sessions[sid], message, now)

    def _put_delete(
        self, method: str, value: str, session: PiholeSession | None, reply: _Reply
    ) -> web.StreamResponse:
        if session is not None and session.app and not self.app_sudo:
            return reply.error(
                403,
                "forbidden",
                "Unable to change configuration (read-only)",
                "The current app session is not allowed to modify Pi-hole config "
                "settings (webserver.api.app_sudo is false)",
            )
        if "/" in value:
            # Deeper than /api/config/dns/hosts/{value}: no such array.
            return reply.json({}, status=404)
        if self.hosts_from_env:
            return reply.error(
                400,
                "bad_request",
                "Config items set via environment variables cannot be changed via the API",
                HOSTS_KEY,
            )
        if method == "PUT":
            return self._put(value, reply)
        if value not in self.hosts:
            return reply.json({}, status=404)
        self.hosts.remove(value)
        return web.Response(status=204)

    def _put(self, value: str, reply: _Reply) -> web.StreamResponse:
        if value in self.hosts:
            return reply.error(
                400,
                "bad_request",
                "Item already present",
                "Uniqueness of items is enforced",
            )
        problem = validate_host_record(value, len(self.hosts))
        if problem is not None:
            return reply.error(400, "bad_request", "Invalid value", problem)
        self.hosts.append(value)
        return reply.json({}, status=201)

    def _expiry(self) -> float:
        return self.clock() + self.session_timeout


WRONG_LOGIN = (
    b'{"session": {"valid": true, "sid": "abc\\r\\nX-Injected: 1", "validity": "1800",'
    b' "message": ["password correct"]}}'
)
"""A login reply with values FTL never sends: a session id with a line break (it would
go into a header), texts where numbers belong and the other way round."""
WRONG_CONFIG = b'{"config": {"dns": {"hosts": [1, 2]}, "webserver": {"api": []}}}'
"""A config reply with values of types FTL never sends."""


class _Reply:
    """FTL's JSON replies, each with ``took`` (seconds spent)."""

    def __init__(self, started: float) -> None:
        self._started = started

    def json(self, data: dict[str, Any], *, status: int = 200) -> web.Response:
        data["took"] = time.perf_counter() - self._started
        return web.json_response(data, status=status)

    def error(
        self, status: int, key: str, message: str, hint: str | None = None
    ) -> web.Response:
        return self.json(
            {"error": {"key": key, "message": message, "hint": hint}}, status=status
        )

    def session(
        self,
        status: int,
        session: PiholeSession | None,
        message: str,
        now: float,
        *,
        no_password: bool = False,
    ) -> web.Response:
        data: dict[str, Any]
        if session is not None:
            data = {
                "valid": True,
                "totp": False,
                "sid": session.sid,
                "csrf": session.csrf,
                "validity": int(session.valid_until - now),
                "message": message,
            }
        else:
            data = {
                "valid": no_password,
                "totp": False,
                "sid": None,
                "validity": -1,
                "message": message,
            }
        return self.json({"session": data}, status=status)


def validate_host_record(value: str, index: int) -> str | None:
    """FTL's ``validate_dns_hosts`` for one new record; None or the problem."""
    key = f"{HOSTS_KEY}[{index}]"
    fields = value.split()
    if not fields:
        return f'{key}: found no first element ("{value}")'
    ip, names = fields[0], fields[1:]
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        address = None
    if address is None or "%" in ip:
        return f'{key}: neither a valid IPv4 nor IPv6 address ("{ip}")'
    count = 0
    for name in names:
        if name.startswith("#"):
            break
        if not _valid_domain(name):
            return f'{key}: invalid hostname ("{name}")'
        count += 1
    if count < 1:
        return f'{key}: entry does not have at least one hostname ("{value}")'
    return None


def config_path(item: str) -> list[str]:
    """FTL's ``gen_config_path``: ``"webserver/api/app_sudo"`` → its path elements.

    Split at ``/``; one trailing ``/`` adds no element, an empty item has none.
    """
    if not item:
        return []
    elements = item.split("/")
    if elements[-1] == "":
        elements.pop()
    return elements


def select_config(
    tree: dict[str, Any], requested: list[str], depth: int = 0
) -> dict[str, Any]:
    """FTL's ``get_json_config`` subset: the items whose path starts with ``requested``.

    Objects are only made for items that are kept, so a path that names nothing
    gives ``{}``; a path deeper than an item (``dns/hosts/x``) names nothing either.
    """
    selected: dict[str, Any] = {}
    for key, value in tree.items():
        if depth < len(requested) and key != requested[depth]:
            continue
        if isinstance(value, dict):
            if child := select_config(value, requested, depth + 1):
                selected[key] = child
        elif depth + 1 >= len(requested):
            selected[key] = value
    return selected


def _valid_domain(name: str) -> bool:
    """Close to FTL's ``valid_domain``: dot-separated labels, 253 characters at most."""
    return len(name) <= 253 and all(
        _LABEL.fullmatch(label) for label in name.split(".")
    )


def _token() -> str:
    """A session id or CSRF token: base64 like FTL's 128-bit ones."""
    return secrets.token_urlsafe(16)[:22] + "=="


async def _serve(args: argparse.Namespace) -> None:
    pihole = PiholeSimulator(
        args.host,
        args.port,
        password=args.password or None,
        app_password=args.app_password,
        app_sudo=args.app_sudo,
        hosts=args.record,
    )
    await pihole.start()
    logging.getLogger(__name__).warning("Pi-hole simulator listening on %s", pihole.url)
    try:
        await asyncio.Event().wait()
    finally:
        await pihole.stop()


def main() -> None:
    """Run one simulated Pi-hole until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument(
        "--password", default="pihole-secret", help="web password; empty for none"
    )
    parser.add_argument("--app-password", default=None)
    parser.add_argument(
        "--app-sudo", action="store_true", help="let app sessions change config"
    )
    parser.add_argument(
        "--record",
        action="append",
        default=[],
        help='a dns.hosts record to start with, e.g. "192.168.1.10 nas.lan"',
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
