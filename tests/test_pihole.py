"""The Pi-hole v6 client against the simulated Pi-hole (and odd peers) on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import errno
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
import pytest

from custom_components.balupi.net import connect_reason
from custom_components.balupi.pihole import (
    PiholeAuthError,
    PiholeClient,
    PiholeError,
    PiholeRateLimitError,
    PiholeReadOnlyError,
    PiholeSeatsError,
    PiholeUnreachableError,
)
from simulators.pihole import PiholeMode, PiholeSimulator

from .conftest import Handler, Serve

PASSWORD = "web-password"
APP_PASSWORD = "app-password-0123456789"
HOST = "baluhost.local"
NAS_IP = "192.168.178.53"
PI_IP = "192.168.178.20"
ROUTER = "192.168.178.1 fritz.box"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def pihole(socket_enabled: None) -> AsyncIterator[PiholeSimulator]:
    """A Pi-hole on loopback with a web password, an app password and one record."""
    simulator = PiholeSimulator(
        password=PASSWORD, app_password=APP_PASSWORD, hosts=[ROUTER]
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def clock(pihole: PiholeSimulator) -> FakeClock:
    fake = FakeClock()
    pihole.clock = fake
    return fake


@pytest.fixture
def client(session: aiohttp.ClientSession, pihole: PiholeSimulator) -> PiholeClient:
    return PiholeClient(session, pihole.url, PASSWORD, timeout=2)


def logins(pihole: PiholeSimulator) -> int:
    return pihole.requests["POST", "/api/auth"]


def _json(data: Any, status: int = 200) -> Handler:
    """A peer's handler that answers ``data``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(data, status=status)

    return handler


# -- Sessions -------------------------------------------------------------------


async def test_first_call_logs_in_once_and_reuses_the_session(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    assert pihole.requests == {}
    assert await client.hosts() == [ROUTER]
    assert await client.where(HOST) == []
    assert await client.point(HOST, NAS_IP)
    assert await client.hosts() == [ROUTER, f"{NAS_IP} {HOST}"]
    assert pihole.logins == logins(pihole) == 1
    assert pihole.active_sessions == 1
    assert pihole.requests["GET", "/api/config/dns/hosts"] == 4
    assert pihole.requests["PUT", f"/api/config/dns/hosts/{NAS_IP} {HOST}"] == 1


async def test_concurrent_first_calls_share_one_login(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    await asyncio.gather(client.hosts(), client.where(HOST), client.hosts())
    assert pihole.logins == 1


async def test_every_request_extends_the_session(
    client: PiholeClient, pihole: PiholeSimulator, clock: FakeClock
) -> None:
    await client.hosts()
    for _ in range(3):
        clock.advance(1700)
        await client.hosts()
    assert pihole.logins == 1


async def test_expired_session_logs_in_again_transparently(
    client: PiholeClient, pihole: PiholeSimulator, clock: FakeClock
) -> None:
    await client.hosts()
    clock.advance(1801)
    assert await client.point(HOST, PI_IP)
    assert pihole.logins == 2
    # The expired seat was reclaimed at the second login.
    assert len(pihole.sessions) == 1


async def test_expire_sessions_logs_in_again_once_for_concurrent_calls(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    await client.hosts()
    pihole.expire_sessions()
    await asyncio.gather(client.hosts(), client.hosts(), client.where(HOST))
    assert pihole.logins == 2
    assert pihole.active_sessions == 1


async def test_wrong_password(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    client = PiholeClient(session, pihole.url, "not-the-password", timeout=2)
    with pytest.raises(PiholeAuthError, match="wrong password"):
        await client.hosts()
    assert pihole.failed_logins == 1
    assert pihole.requests["GET", "/api/config/dns/hosts"] == 0


async def test_sixteen_leaked_sessions_exhaust_the_seats(
    session: aiohttp.ClientSession, pihole: PiholeSimulator, clock: FakeClock
) -> None:
    for _ in range(16):
        # A client that is never closed leaks its session.
        await PiholeClient(session, pihole.url, PASSWORD).hosts()
    assert pihole.active_sessions == 16
    client = PiholeClient(session, pihole.url, PASSWORD, timeout=2)
    with pytest.raises(PiholeSeatsError, match="no free API session"):
        await client.hosts()
    # Once the leaked sessions run out, their seats are reclaimed at login.
    clock.advance(1801)
    assert await client.hosts() == [ROUTER]
    assert len(pihole.sessions) == 1


async def test_rate_limited_login(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    pihole.rate_limited = True
    with pytest.raises(PiholeRateLimitError, match="too many login attempts"):
        await client.hosts()


async def test_app_password_without_app_sudo_is_read_only(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    pihole.hosts.append(f"{NAS_IP} {HOST}")
    client = PiholeClient(session, pihole.url, APP_PASSWORD, timeout=2)
    assert await client.where(HOST) == [NAS_IP]
    with pytest.raises(PiholeReadOnlyError, match=r"webserver\.api\.app_sudo"):
        await client.point(HOST, PI_IP)
    # The new record is added before the old one is removed: a refused write
    # leaves the records as they were.
    assert pihole.hosts == [ROUTER, f"{NAS_IP} {HOST}"]


async def test_app_password_with_app_sudo_writes(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    pihole.app_sudo = True
    client = PiholeClient(session, pihole.url, APP_PASSWORD, timeout=2)
    assert await client.point(HOST, PI_IP)
    assert pihole.hosts == [ROUTER, f"{PI_IP} {HOST}"]


async def test_pihole_without_password(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    pihole = PiholeSimulator(password=None)
    await pihole.start()
    try:
        client = PiholeClient(session, pihole.url, "anything", timeout=2)
        assert await client.point(HOST, NAS_IP)
        assert pihole.hosts == [f"{NAS_IP} {HOST}"]
        await client.close()
        assert pihole.requests["DELETE", "/api/auth"] == 0
    finally:
        await pihole.stop()


async def test_close_ends_the_session(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    await client.close()  # never logged in: nothing to end
    assert pihole.requests == {}
    await client.hosts()
    assert pihole.active_sessions == 1
    await client.close()
    assert pihole.active_sessions == 0
    assert pihole.sessions == {}
    assert pihole.logouts == 1
    await client.close()  # twice: nothing more is sent
    assert pihole.requests["DELETE", "/api/auth"] == 1
    # The client can be used again: it logs in afresh.
    await client.hosts()
    assert pihole.logins == 2


async def test_close_never_raises(
    client: PiholeClient, pihole: PiholeSimulator, session: aiohttp.ClientSession
) -> None:
    await client.hosts()
    await pihole.set_mode(PiholeMode.REFUSED)
    await client.close()
    await pihole.set_mode(PiholeMode.UP)
    await client.hosts()
    await session.close()
    await client.close()  # the HTTP session is gone already


# -- Write permission (for the config flow) ------------------------------------

APP_SUDO = "/api/config/webserver/api/app_sudo"


async def test_the_web_password_can_write_without_asking(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    assert await client.can_write()
    assert pihole.requests["GET", APP_SUDO] == 0
    sid = next(iter(pihole.sessions))
    assert await client.point(HOST, NAS_IP)
    assert list(pihole.sessions) == [sid]
    assert pihole.logins == 1


@pytest.mark.parametrize("app_sudo", [False, True])
async def test_an_app_password_can_write_only_with_app_sudo(
    session: aiohttp.ClientSession, pihole: PiholeSimulator, app_sudo: bool
) -> None:
    pihole.app_sudo = app_sudo
    client = PiholeClient(session, pihole.url, APP_PASSWORD, timeout=2)
    assert await client.can_write() is app_sudo
    assert pihole.requests["GET", APP_SUDO] == 1
    (sid,) = pihole.sessions
    assert pihole.sessions[sid].app
    # The answer is what a DNS switch then meets, in the same session.
    if app_sudo:
        assert await client.point(HOST, NAS_IP)
    else:
        with pytest.raises(PiholeReadOnlyError):
            await client.point(HOST, NAS_IP)
    assert list(pihole.sessions) == [sid]
    assert pihole.logins == 1
    assert pihole.active_sessions == 1


async def test_can_write_reads_app_sudo_each_time(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    client = PiholeClient(session, pihole.url, APP_PASSWORD, timeout=2)
    await client.hosts()
    assert not await client.can_write()
    pihole.app_sudo = True
    assert await client.can_write()
    assert pihole.logins == 1


async def test_can_write_after_the_session_expired(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    client = PiholeClient(session, pihole.url, APP_PASSWORD, timeout=2)
    assert not await client.can_write()
    pihole.expire_sessions()
    assert not await client.can_write()
    assert pihole.logins == 2
    assert len(pihole.sessions) == 1


async def test_can_write_without_a_pihole_password(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    pihole = PiholeSimulator(password=None)
    await pihole.start()
    try:
        client = PiholeClient(session, pihole.url, "anything", timeout=2)
        assert await client.can_write()
        assert pihole.requests["GET", APP_SUDO] == 0
    finally:
        await pihole.stop()


async def test_can_write_raises_the_usual_errors(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    with pytest.raises(PiholeAuthError):
        await PiholeClient(session, pihole.url, "wrong", timeout=2).can_write()
    for _ in range(16):
        pihole.open_session()
    with pytest.raises(PiholeSeatsError):
        await PiholeClient(session, pihole.url, PASSWORD, timeout=2).can_write()
    await pihole.set_mode(PiholeMode.REFUSED)
    # A pooled connection is reset rather than refused: either is unreachable.
    with pytest.raises(PiholeUnreachableError):
        await PiholeClient(session, pihole.url, APP_PASSWORD, timeout=2).can_write()


APP_LOGIN = _json(
    {"session": {"valid": True, "sid": "abc", "message": "app-password correct"}}
)


@pytest.mark.parametrize(
    "config",
    [
        {"config": {}},
        {"config": {"webserver": {"api": {}}}},
        {"config": {"webserver": {"api": {"app_sudo": "false"}}}},
        {"config": {"webserver": []}},
        [],
    ],
)
async def test_can_write_with_an_odd_app_sudo_reply(
    session: aiohttp.ClientSession, peer: Serve, config: Any
) -> None:
    url = await peer(
        {("POST", "/api/auth"): APP_LOGIN, ("GET", APP_SUDO): _json(config)}
    )
    client = PiholeClient(session, url, APP_PASSWORD, timeout=2)
    with pytest.raises(PiholeError, match=r"no webserver\.api\.app_sudo"):
        await client.can_write()


# -- Records --------------------------------------------------------------------


async def test_point_to_nas_then_pi_leaves_one_record_and_is_idempotent(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    assert await client.point(HOST, NAS_IP)
    assert pihole.hosts == [ROUTER, f"{NAS_IP} {HOST}"]
    writes = pihole.writes
    assert not await client.point(HOST, NAS_IP)
    assert pihole.writes == writes

    assert await client.point(HOST, PI_IP)
    assert pihole.hosts == [ROUTER, f"{PI_IP} {HOST}"]
    assert await client.where(HOST) == [PI_IP]
    writes = pihole.writes
    assert not await client.point(HOST, PI_IP)
    assert pihole.writes == writes
    assert pihole.logins == 1


async def test_point_removes_every_other_record_of_the_name_only(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    multi = f"10.0.0.6 {HOST} nas.lan"
    pihole.hosts += [
        f"10.0.0.9 {HOST}",
        "10.0.0.8\tBaluHost.local",
        f"10.0.0.7  {HOST} # old+note",
        f"{PI_IP} {HOST}",
        multi,
        f"10.0.0.5 nas.{HOST}",
    ]
    assert await client.where("BALUHOST.local") == [
        "10.0.0.9",
        "10.0.0.8",
        "10.0.0.7",
        PI_IP,
        "10.0.0.6",
    ]
    assert await client.point("BaluHost.Local", PI_IP)
    assert pihole.hosts == [ROUTER, f"{PI_IP} {HOST}", multi, f"10.0.0.5 nas.{HOST}"]
    assert await client.where(HOST) == [PI_IP, "10.0.0.6"]


async def test_point_writes_ipv6_in_canonical_form(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    pihole.hosts.append(f"2001:DB8::1 {HOST}")
    assert await client.point(HOST, "2001:db8:0:0::1")
    assert pihole.hosts == [ROUTER, f"2001:db8::1 {HOST}"]
    assert not await client.point(HOST, "2001:DB8::1")


async def test_records_forced_by_the_environment(
    client: PiholeClient, pihole: PiholeSimulator
) -> None:
    pihole.hosts_from_env = True
    with pytest.raises(PiholeError, match="HTTP 400: Config items set via environment"):
        await client.point(HOST, NAS_IP)
    assert pihole.hosts == [ROUTER]


@pytest.mark.parametrize(
    "hostname",
    [
        "",
        "-nas.local",
        "nas-.local",
        "nas..local",
        "baluhost.local.",
        "has space.local",
        "under_score.local",
        "a" * 64 + ".local",
        ".".join(["a" * 63] * 4),
        "nas.local/x",
        "näs.local",
        "1.2.3.4 evil.local",
    ],
)
async def test_invalid_hostname_is_refused_before_any_request(
    client: PiholeClient, pihole: PiholeSimulator, hostname: str
) -> None:
    with pytest.raises(ValueError, match="invalid hostname"):
        await client.point(hostname, NAS_IP)
    with pytest.raises(ValueError, match="invalid hostname"):
        await client.where(hostname)
    assert pihole.requests == {}


@pytest.mark.parametrize(
    "ip",
    ["", "192.168.178", "256.1.1.1", "01.2.3.4", "1.2.3.4 x", "fe80::1%eth0", "nas"],
)
async def test_invalid_ip_is_refused_before_any_request(
    client: PiholeClient, pihole: PiholeSimulator, ip: str
) -> None:
    with pytest.raises(ValueError, match="invalid IP address"):
        await client.point(HOST, ip)
    assert pihole.requests == {}


# -- Reachability ---------------------------------------------------------------


async def test_refused(client: PiholeClient, pihole: PiholeSimulator) -> None:
    await pihole.set_mode(PiholeMode.REFUSED)
    with pytest.raises(PiholeUnreachableError, match="connection refused"):
        await client.hosts()
    await pihole.set_mode(PiholeMode.UP)
    assert await client.hosts() == [ROUTER]


async def test_silent(session: aiohttp.ClientSession, pihole: PiholeSimulator) -> None:
    client = PiholeClient(session, pihole.url, PASSWORD, timeout=0.2)
    await client.hosts()
    await pihole.set_mode(PiholeMode.SILENT)
    with pytest.raises(PiholeUnreachableError, match=r"no reply within 0\.2 s"):
        await client.point(HOST, NAS_IP)
    assert pihole.hosts == [ROUTER]


async def test_slow_login_times_out(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    pihole.latency = 1.0
    client = PiholeClient(session, pihole.url, PASSWORD, timeout=0.1)
    with pytest.raises(PiholeUnreachableError, match=r"no reply within 0\.1 s"):
        await client.hosts()


def test_unreachable_host_reason_names_the_os_error() -> None:
    key = ConnectionKey("192.0.2.1", 80, False, True, None, None, None)
    err = aiohttp.ClientConnectorError(
        key, OSError(errno.EHOSTUNREACH, "No route to host")
    )
    assert connect_reason(err) == "cannot connect: No route to host"


# -- Peers that are no (healthy) Pi-hole ----------------------------------------


def _raw(body: bytes, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status)

    return handler


async def _hang_up(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


GOOD_LOGIN = _json({"session": {"valid": True, "sid": "abc", "validity": 1800}})


@pytest.mark.parametrize(
    ("login", "hosts", "reason"),
    [
        (_raw(b"<html>router</html>"), None, "HTTP 200, reply is not JSON"),
        (_hang_up, None, "connection failed: ServerDisconnectedError"),
        (
            _json({"session": {"valid": False}}),
            None,
            "login reply has no valid session",
        ),
        (_json([1, 2]), None, "login reply has no valid session"),
        (_json({"session": {"valid": True, "sid": ""}}), None, "no session id"),
        (_raw(b"", status=500), None, r"^HTTP 500$"),
        (_json({"error": {"message": "Bad"}}, status=400), None, "^HTTP 400: Bad$"),
        (GOOD_LOGIN, _json({"config": {}}), "no dns.hosts list"),
        (GOOD_LOGIN, _json([]), "no dns.hosts list"),
        (GOOD_LOGIN, _json({"config": {"dns": {"hosts": [1]}}}), "no dns.hosts list"),
        (GOOD_LOGIN, _json({"config": {"dns": {"hosts": "x"}}}), "no dns.hosts list"),
        (GOOD_LOGIN, _raw(b"[" + b" " * 1_100_000 + b"]"), "reply too large"),
        (GOOD_LOGIN, _raw(b"\xff\xfe"), "not JSON"),
        (
            GOOD_LOGIN,
            _json({"error": {"key": "unauthorized"}}, status=401),
            "^HTTP 401$",
        ),
        (
            GOOD_LOGIN,
            _json({"error": {"key": "x", "message": 7}}, status=429),
            "^HTTP 429$",
        ),
    ],
)
async def test_odd_peers(
    session: aiohttp.ClientSession,
    peer: Serve,
    login: Handler,
    hosts: Handler | None,
    reason: str,
) -> None:
    routes = {("POST", "/api/auth"): login}
    if hosts is not None:
        routes["GET", "/api/config/dns/hosts"] = hosts
    client = PiholeClient(session, await peer(routes) + "/", PASSWORD, timeout=2)
    with pytest.raises(PiholeError, match=reason):
        await client.hosts()


async def test_a_session_refused_right_after_login_is_an_error(
    session: aiohttp.ClientSession,
    peer: Serve,
) -> None:
    logins = 0

    async def login(request: web.Request) -> web.StreamResponse:
        nonlocal logins
        logins += 1
        return web.json_response({"session": {"valid": True, "sid": f"s{logins}"}})

    unauthorized = _json(
        {"error": {"key": "unauthorized", "message": "Unauthorized"}}, 401
    )
    url = await peer(
        {("POST", "/api/auth"): login, ("GET", "/api/config/dns/hosts"): unauthorized}
    )
    client = PiholeClient(session, url, PASSWORD, timeout=2)
    with pytest.raises(PiholeError, match="HTTP 401: Unauthorized"):
        await client.hosts()
    assert logins == 2


# -- The simulator's wire format (FTL v6.4.1) -----------------------------------


async def test_simulator_replies_like_ftl(
    session: aiohttp.ClientSession, pihole: PiholeSimulator, clock: FakeClock
) -> None:
    url = pihole.url
    item = f"{url}/api/config/dns/hosts/{quote(f'{NAS_IP} {HOST}', safe='')}"

    async def call(
        method: str, target: str, sid: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"X-FTL-SID": sid} if sid else {}
        async with session.request(method, target, headers=headers, **kwargs) as reply:
            body = await reply.read()
            return reply.status, (await reply.json() if body else None)

    status, body = await call("POST", f"{url}/api/auth", json={"password": "nope"})
    assert status == 401
    assert body["session"] == {
        "valid": False,
        "totp": False,
        "sid": None,
        "validity": -1,
        "message": "password incorrect",
    }
    status, body = await call("POST", f"{url}/api/auth", json={"password": PASSWORD})
    assert status == 200
    assert body["session"]["valid"] is True
    assert body["session"]["validity"] == 1800
    assert body["session"]["message"] == "password correct"
    assert isinstance(body["session"]["csrf"], str)
    assert isinstance(body["took"], float)
    sid = body["session"]["sid"]

    status, body = await call("GET", f"{url}/api/config/dns/hosts")
    assert status == 401
    assert body["error"] == {
        "key": "unauthorized",
        "message": "Unauthorized",
        "hint": None,
    }
    status, body = await call("GET", f"{url}/api/config/dns/hosts", sid)
    assert (status, body["config"]) == (200, {"dns": {"hosts": [ROUTER]}})

    status, body = await call("PUT", item, sid)
    assert status == 201
    assert set(body) == {"took"}
    status, body = await call("PUT", item, sid)
    assert status == 400
    assert body["error"] == {
        "key": "bad_request",
        "message": "Item already present",
        "hint": "Uniqueness of items is enforced",
    }
    status, body = await call("DELETE", item, sid)
    assert (status, body) == (204, None)
    status, body = await call("DELETE", item, sid)
    assert status == 404
    assert set(body) == {"took"}
    # "+" in the path is a space, as civetweb decodes it.
    status, _ = await call("PUT", f"{url}/api/config/dns/hosts/{NAS_IP}+{HOST}", sid)
    assert status == 201
    assert pihole.hosts[-1] == f"{NAS_IP} {HOST}"

    status, body = await call("PUT", f"{url}/api/config/dns/hosts/1.2.3.4", sid)
    assert status == 400
    assert body["error"]["message"] == "Invalid value"
    assert body["error"]["hint"] == (
        'dns.hosts[2]: entry does not have at least one hostname ("1.2.3.4")'
    )

    clock.advance(10)
    status, body = await call("GET", f"{url}/api/auth", sid)
    assert (status, body["session"]["validity"]) == (200, 1800)
    status, body = await call("DELETE", f"{url}/api/auth", sid)
    assert (status, body) == (204, None)
    status, body = await call("DELETE", f"{url}/api/auth", sid)
    assert status == 401
    assert body["session"]["message"] == "session unknown"

    status, body = await call("GET", f"{url}/api/nothing")
    assert status == 404
    assert body["error"]["key"] == "not_found"


async def test_simulator_seat_and_app_replies(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    async def login(password: str) -> tuple[int, Any]:
        async with session.post(
            f"{pihole.url}/api/auth", json={"password": password}
        ) as reply:
            return reply.status, await reply.json()

    status, body = await login(APP_PASSWORD)
    assert status == 200
    assert body["session"]["message"] == "app-password correct"
    async with session.delete(
        f"{pihole.url}/api/config/dns/hosts/{quote(ROUTER, safe='')}",
        headers={"X-FTL-SID": body["session"]["sid"]},
    ) as reply:
        assert reply.status == 403
        error = (await reply.json())["error"]
    assert error["key"] == "forbidden"
    assert error["message"] == "Unable to change configuration (read-only)"
    assert "webserver.api.app_sudo is false" in error["hint"]
    assert pihole.hosts == [ROUTER]

    for _ in range(15):
        pihole.open_session()
    status, body = await login(PASSWORD)
    assert status == 429
    assert body["error"] == {
        "key": "api_seats_exceeded",
        "message": "API seats exceeded",
        "hint": "increase webserver.api.max_sessions",
    }
    pihole.expire_sessions()
    assert pihole.active_sessions == 0
    status, _ = await login(PASSWORD)
    assert status == 200
    assert len(pihole.sessions) == 1

    pihole.rate_limited = True
    status, body = await login(PASSWORD)
    assert status == 429
    assert body["error"]["key"] == "rate_limiting"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "No request body data"),
        (b"{", "Invalid request body data (no valid JSON), error at hint"),
        (b"{}", "No password found in JSON payload"),
        (b'{"password": 1}', "Field password has to be of type 'string'"),
    ],
)
async def test_simulator_bad_login_bodies(
    session: aiohttp.ClientSession, pihole: PiholeSimulator, data: bytes, message: str
) -> None:
    async with session.post(f"{pihole.url}/api/auth", data=data) as reply:
        assert reply.status == 400
        assert (await reply.json())["error"]["message"] == message


@pytest.mark.parametrize(
    ("value", "status", "hint"),
    [
        ("1.2.3.4 a.lan b.lan # note", 201, None),
        ("1.2.3.4 # only a comment", 400, "at least one hostname"),
        (" ", 400, "found no first element"),
        ("1.2.3 a.lan", 400, 'neither a valid IPv4 nor IPv6 address ("1.2.3")'),
        ("fe80::1%eth0 a.lan", 400, "neither a valid IPv4 nor IPv6 address"),
        ("1.2.3.4 -a.lan", 400, 'invalid hostname ("-a.lan")'),
        ("1.2.3.4 a.lan/b", 404, None),
    ],
)
async def test_simulator_validates_records(
    session: aiohttp.ClientSession,
    pihole: PiholeSimulator,
    value: str,
    status: int,
    hint: str | None,
) -> None:
    sid = pihole.open_session()
    async with session.put(
        f"{pihole.url}/api/config/dns/hosts/{quote(value, safe='')}",
        headers={"sid": sid},
    ) as reply:
        assert reply.status == status
        body = await reply.json()
    if hint is None:
        assert set(body) == {"took"}
    else:
        assert body["error"]["message"] == "Invalid value"
        assert hint in body["error"]["hint"]


async def test_simulator_session_status_and_mode(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    assert pihole.mode is PiholeMode.UP
    async with session.get(f"{pihole.url}/api/auth") as reply:
        assert reply.status == 401
        assert (await reply.json())["session"]["message"] == "no SID provided"
    sid = pihole.open_session()
    pihole.expire_sessions()
    async with session.get(f"{pihole.url}/api/auth?sid={sid}") as reply:
        assert reply.status == 401
        assert (await reply.json())["session"]["message"] == "session expired"
    await pihole.set_mode(PiholeMode.SILENT)
    assert pihole.mode is PiholeMode.SILENT


@pytest.mark.parametrize(
    ("item", "config"),
    [
        ("/webserver/api/app_sudo", {"webserver": {"api": {"app_sudo": False}}}),
        (
            "/webserver/api",
            {"webserver": {"api": {"max_sessions": 16, "app_sudo": False}}},
        ),
        ("/dns/hosts/", {"dns": {"hosts": [ROUTER]}}),
        (
            "",
            {
                "dns": {"hosts": [ROUTER]},
                "webserver": {
                    "session": {"timeout": 1800},
                    "api": {"max_sessions": 16, "app_sudo": False},
                },
            },
        ),
        # FTL answers a path that names nothing with an empty subtree, not an error.
        ("/webserver/api/app_sud", {}),
        ("/webserver/api/app_sudo/x", {}),
        ("/dns/hosts/x", {}),
        ("/dns//hosts", {}),
        ("/dns.hosts", {}),
    ],
)
async def test_simulator_config_subtrees_like_ftl(
    session: aiohttp.ClientSession, pihole: PiholeSimulator, item: str, config: Any
) -> None:
    # Any session may read config, an app session without app_sudo too.
    sid = pihole.open_session(app=True)
    async with session.get(
        f"{pihole.url}/api/config{item}", headers={"X-FTL-SID": sid}
    ) as reply:
        assert reply.status == 200
        body = await reply.json()
    assert body["config"] == config
    assert isinstance(body["took"], float)


async def test_simulator_config_needs_a_session(
    session: aiohttp.ClientSession, pihole: PiholeSimulator
) -> None:
    async with session.get(f"{pihole.url}/api/config/webserver/api/app_sudo") as reply:
        assert reply.status == 401
        assert (await reply.json())["error"]["key"] == "unauthorized"
    async with session.get(f"{pihole.url}/api/configuration") as reply:
        assert reply.status == 404
    pihole.app_sudo = True
    sid = pihole.open_session()
    async with session.get(
        f"{pihole.url}/api/config/webserver/api/app_sudo", headers={"sid": sid}
    ) as reply:
        assert (await reply.json())["config"] == {
            "webserver": {"api": {"app_sudo": True}}
        }
