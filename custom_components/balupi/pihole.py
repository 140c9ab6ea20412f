"""Client for Pi-hole v6's local DNS records (``dns.hosts``) over its REST API.

Plain Python on top of an injected ``aiohttp.ClientSession``, no Home Assistant.
Pi-hole v6 (FTL) facts it relies on:

* ``POST /api/auth {"password"}`` → ``session.sid``; the sid goes in ``X-FTL-SID``.
  A session lives 30 min after its last request, and only 16 may exist at once (429
  ``api_seats_exceeded``), so one session id is kept and reused: the client logs in
  lazily, once, logs in again only when a request gets 401, and ``close()`` ends the
  session with ``DELETE /api/auth``.
* ``GET /api/config/dns/hosts`` lists the records, each ``"IP HOSTNAME [HOSTNAME...]"``;
  ``PUT`` / ``DELETE /api/config/dns/hosts/{url-encoded record}`` add (201; 400 if
  present) and remove (204; 404 if absent) one record, matched as an exact string.
* A session opened with the app password gets 403 on config writes unless
  ``webserver.api.app_sudo`` is on. Its login reply says so only in
  ``session.message``: ``"app-password correct"`` instead of ``"password correct"``
  (FTL v6.4.1 ``src/api/auth.c``; the session object has no ``app`` key, only
  ``GET /api/auth/sessions`` lists one). ``GET /api/config/webserver/api/app_sudo``
  works for every session and answers ``{"config": {"webserver": {"api":
  {"app_sudo": false}}}}``.

Hostnames are compared case-insensitively (DNS names are) and written in lower case.
A reply that is not what FTL sends, however odd (see ``peer_reply``), is a
``PiholeReplyError``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import Any
from urllib.parse import quote

import aiohttp

from .net import connect_reason
from .peer_reply import ACCEPT_IDENTITY, ReplyError, parse_json, printable, read_body

AUTH_PATH = "/api/auth"
HOSTS_PATH = "/api/config/dns/hosts"
APP_SUDO_PATH = "/api/config/webserver/api/app_sudo"
APP_SESSION_MESSAGE = "app-password correct"
"""``session.message`` of a login with the app password."""
SID_HEADER = "X-FTL-SID"
MAX_REPLY_BYTES = 1024 * 1024
"""A hosts list of a few thousand records; anything larger is not a Pi-hole reply."""

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_SID = re.compile(r"[!-~]{1,128}")
"""What a session id may be to go into a header: FTL's are 24 base64 characters."""


class PiholeError(Exception):
    """The Pi-hole did not do what was asked; ``str()`` says why, briefly."""


class PiholeUnreachableError(PiholeError):
    """No HTTP reply at all: refused, no route, name not resolved or timed out."""


class PiholeReplyError(PiholeError):
    """An HTTP reply came back, but not one a Pi-hole v6 sends."""


class PiholeAuthError(PiholeError):
    """The password was refused."""


class PiholeSeatsError(PiholeError):
    """Every API session seat is taken (HTTP 429 ``api_seats_exceeded``)."""


class PiholeRateLimitError(PiholeError):
    """Too many login attempts (HTTP 429 ``rate_limiting``)."""


class PiholeReadOnlyError(PiholeError):
    """An app-password session may not change settings (HTTP 403 ``forbidden``)."""


class PiholeClient:
    """One Pi-hole v6 at ``url`` (e.g. ``http://192.168.178.2``), one session id."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        password: str,
        *,
        timeout: float = 10,
    ) -> None:
        """Talk to ``url`` through ``session``; nothing is sent before the first call.

        Args:
            session: The HTTP session to send requests with.
            url: Base URL of the Pi-hole's web server, without ``/api``.
            password: The web password, or an app password.
            timeout: Seconds each HTTP request may take.
        """
        self._session = session
        self._url = url.rstrip("/")
        self._password = password
        self._timeout = timeout
        self._sid: str | None = None
        """The session id in use; "" when the Pi-hole has no password."""
        self._app_session = False
        """The session was opened with the app password."""
        self._login_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    async def hosts(self) -> list[str]:
        """The local DNS records, ``"IP HOSTNAME [HOSTNAME...]"`` each, in order."""
        data = await self._request("GET", HOSTS_PATH, expect=200)
        try:
            records = data["config"]["dns"]["hosts"]
        except (KeyError, TypeError) as err:
            raise PiholeReplyError("reply has no dns.hosts list") from err
        if not isinstance(records, list) or not all(
            isinstance(record, str) for record in records
        ):
            raise PiholeReplyError("reply has no dns.hosts list")
        return records

    async def where(self, hostname: str) -> list[str]:
        """The IP addresses the local records give ``hostname``, in record order."""
        name = validate_hostname(hostname)
        addresses: list[str] = []
        for record in await self.hosts():
            ip, names = _split(record)
            if name in names and ip not in addresses:
                addresses.append(ip)
        return addresses

    async def point(self, hostname: str, ip: str) -> bool:
        """Leave exactly one record for ``hostname``: ``"{ip} {hostname}"``.

        Every other record whose hostnames are exactly ``hostname`` is removed,
        whatever its address; records that also name other hosts are left alone.
        Nothing is written when the records are already right. Returns whether
        anything changed.

        Raises ValueError for an invalid hostname or address, before any request.
        """
        name = validate_hostname(hostname)
        address = validate_ip(ip)
        wanted = f"{address} {name}"
        async with self._write_lock:
            records = await self.hosts()
            stale = [
                record
                for record in records
                if record != wanted and _split(record)[1] == [name]
            ]
            # Add before removing: the name always resolves, and a refused write
            # (read-only app password) leaves the records as they were.
            if wanted not in records:
                await self._write("PUT", wanted, expect=201)
            for record in stale:
                await self._write("DELETE", record, expect=204)
            return wanted not in records or bool(stale)

    async def can_write(self) -> bool:
        """Whether this password may change local DNS records.

        The web password may. An app password may only while the Pi-hole's
        ``webserver.api.app_sudo`` is on, which is read then (any session may read
        config). Logs in like every call, reusing the session: no seat is added.
        (Pi-hole's CLI password also logs in as "password correct" and may never
        write; it is not told apart, as nobody gives it to an integration.)

        Raises the same errors as :meth:`hosts` (wrong password, no free seat,
        unreachable, an odd reply).
        """
        await self._login(None)
        if not self._app_session:
            return True
        data = await self._request("GET", APP_SUDO_PATH, expect=200)
        try:
            app_sudo = data["config"]["webserver"]["api"]["app_sudo"]
        except (KeyError, TypeError) as err:
            raise PiholeReplyError("reply has no webserver.api.app_sudo") from err
        if not isinstance(app_sudo, bool):
            raise PiholeReplyError("reply has no webserver.api.app_sudo")
        return app_sudo

    async def close(self) -> None:
        """End the session (``DELETE /api/auth``) and forget it; never raises."""
        sid, self._sid = self._sid, None
        if not sid:
            return
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.delete(
                    self._url + AUTH_PATH,
                    headers={SID_HEADER: sid, **ACCEPT_IDENTITY},
                    allow_redirects=False,
                    auto_decompress=False,
                ):
                    pass
        except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError):
            # RuntimeError: the HTTP session is closed already. Either way the
            # Pi-hole session runs out by itself after 30 minutes.
            pass

    # -- HTTP ---------------------------------------------------------------------

    async def _write(self, method: str, record: str, *, expect: int) -> None:
        await self._request(
            method, f"{HOSTS_PATH}/{quote(record, safe='')}", expect=expect
        )

    async def _request(self, method: str, path: str, *, expect: int) -> Any:
        """Send with the session id, logging in first or again once on 401."""
        sid = await self._login(None)
        status, data = await self._send(method, path, sid)
        if status == 401:
            sid = await self._login(sid)
            status, data = await self._send(method, path, sid)
        if status != expect:
            raise _error(status, data)
        return data

    async def _login(self, rejected: str | None) -> str:
        """The session id to use; logs in when there is none or ``rejected`` is it."""
        async with self._login_lock:
            if self._sid is None or self._sid == rejected:
                self._sid = None
                status, data = await self._send(
                    "POST", AUTH_PATH, None, body={"password": self._password}
                )
                if status == 401:
                    raise PiholeAuthError("wrong password")
                if status != 200:
                    raise _error(status, data)
                self._sid = _session_id(data)
                message = data["session"].get("message")
                self._app_session = message == APP_SESSION_MESSAGE
            return self._sid

    async def _send(
        self,
        method: str,
        path: str,
        sid: str | None,
        *,
        body: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One HTTP exchange: the status and the parsed JSON body (None if none)."""
        headers = {"Accept": "application/json", **ACCEPT_IDENTITY}
        if sid:
            headers[SID_HEADER] = sid
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.request(
                    method,
                    self._url + path,
                    json=body,
                    headers=headers,
                    allow_redirects=False,
                    auto_decompress=False,
                ) as response:
                    status = response.status
                    raw = await read_body(response, MAX_REPLY_BYTES)
        except ReplyError as err:
            raise PiholeReplyError(f"HTTP {status}, {err}") from err
        except TimeoutError as err:
            raise PiholeUnreachableError(
                f"no reply within {self._timeout:g} s"
            ) from err
        except aiohttp.ClientConnectorError as err:
            raise PiholeUnreachableError(connect_reason(err)) from err
        except (aiohttp.ClientError, OSError) as err:
            raise PiholeUnreachableError(
                f"connection failed: {type(err).__name__}"
            ) from err
        if not raw:
            return status, None
        try:
            return status, parse_json(raw)
        except ReplyError as err:
            raise PiholeReplyError(f"HTTP {status}, {err}") from err


def validate_hostname(hostname: str) -> str:
    """``hostname`` in lower case, if it is an RFC 1123 host name; else ValueError."""
    name = hostname.lower()
    if not (
        0 < len(name) <= 253
        and all(_LABEL.fullmatch(label) for label in name.split("."))
    ):
        raise ValueError(f"invalid hostname: {hostname!r}")
    return name


def validate_ip(ip: str) -> str:
    """``ip`` in its canonical form, if it is an IPv4 or IPv6 address; else ValueError."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError as err:
        raise ValueError(f"invalid IP address: {ip!r}") from err
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise ValueError(f"invalid IP address: {ip!r}")
    return str(address)


def _split(record: str) -> tuple[str, list[str]]:
    """A HOSTS-format record's address and lower-case host names (no comment)."""
    fields = record.split()
    names: list[str] = []
    for field in fields[1:]:
        if field.startswith("#"):
            break
        names.append(field.lower())
    return (fields[0] if fields else ""), names


def _session_id(data: Any) -> str:
    """The sid of a login reply; "" for a Pi-hole without a password."""
    session = data.get("session") if isinstance(data, dict) else None
    if not isinstance(session, dict) or session.get("valid") is not True:
        raise PiholeReplyError("login reply has no valid session")
    sid = session.get("sid")
    if sid is None:
        # No password set on the Pi-hole: every request is allowed without one.
        return ""
    if not isinstance(sid, str) or not _SID.fullmatch(sid):
        # It goes into a header: aiohttp refuses a line break there with ValueError.
        raise PiholeReplyError("login reply has no session id")
    return sid


def _error(status: int, data: Any) -> PiholeError:
    """The exception for an unexpected reply."""
    error = data.get("error") if isinstance(data, dict) else None
    key = error.get("key") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if status == 429 and key == "api_seats_exceeded":
        return PiholeSeatsError(
            "no free API session (all seats in use; old ones expire after 30 min)"
        )
    if status == 429 and key == "rate_limiting":
        return PiholeRateLimitError("too many login attempts, try again later")
    if status == 403 and key == "forbidden":
        return PiholeReadOnlyError(
            "the app password may not change settings: turn on "
            "webserver.api.app_sudo or use the web password"
        )
    if isinstance(message, str) and message:
        return PiholeError(f"HTTP {status}: {printable(message)}")
    return PiholeError(f"HTTP {status}")
