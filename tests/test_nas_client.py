"""The NAS health client against a simulated NAS and against wrong peers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
import errno
import ssl

import aiohttp
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
import pytest

from custom_components.balupi.nas_client import (
    NasReplyError,
    NasUnreachableError,
    fetch_health,
)
from custom_components.balupi.net import connect_reason
from simulators.baluhost import BaluHostSimulator, NasMode

from .conftest import Handler, Serve


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_healthy_nas(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    health = await fetch_health(session, nas.url, timeout=2)
    assert health.version == nas.version
    assert health.api_version == "1"
    assert 0 < health.latency < 2
    assert nas.health_requests == 1


async def test_latency_is_measured(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    nas.latency = 0.15
    health = await fetch_health(session, nas.url, timeout=2)
    assert health.latency >= 0.15


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (NasMode.REFUSED, "connection refused"),
        (NasMode.SILENT, r"no reply within 0\.2 s"),
    ],
)
async def test_unreachable_nas(
    session: aiohttp.ClientSession, nas: BaluHostSimulator, mode: NasMode, reason: str
) -> None:
    await nas.set_mode(mode)
    with pytest.raises(NasUnreachableError, match=reason):
        await fetch_health(session, nas.url, timeout=0.2)


async def test_slow_nas_times_out(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    nas.latency = 1.0
    with pytest.raises(NasUnreachableError, match=r"no reply within 0\.1 s"):
        await fetch_health(session, nas.url, timeout=0.1)


async def test_http_error(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    await nas.set_mode(NasMode.ERROR)
    with pytest.raises(NasReplyError, match="HTTP 500"):
        await fetch_health(session, nas.url, timeout=2)


async def test_nas_comes_back_after_refusing(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    await fetch_health(session, nas.url, timeout=2)
    await nas.set_mode(NasMode.REFUSED)
    with pytest.raises(NasUnreachableError):
        await fetch_health(session, nas.url, timeout=2)
    await nas.set_mode(NasMode.UP)
    assert (await fetch_health(session, nas.url, timeout=2)).version == nas.version


async def test_ping_alias_answers_like_health(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    async with session.get(nas.url + "/api/ping") as response:
        assert await response.json() == {
            "status": "ok",
            "version": nas.version,
            "api_version": "1",
            "min_api_version": "1",
        }


async def test_nothing_listening(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    url = nas.url
    await nas.stop()
    with pytest.raises(NasUnreachableError, match="connection refused"):
        await fetch_health(session, url, timeout=2)


def test_unreachable_host_reason_names_the_os_error() -> None:
    """No route to the NAS (it is off and ARP fails) reads as the OS says it."""
    key = ConnectionKey("192.0.2.1", 8000, False, True, None, None, None)
    err = aiohttp.ClientConnectorError(
        key, OSError(errno.EHOSTUNREACH, "No route to host")
    )
    assert connect_reason(err) == "cannot connect: No route to host"


async def _html(request: web.Request) -> web.StreamResponse:
    return web.Response(text="<html>Fritz!Box</html>", content_type="text/html")


async def _not_ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "degraded"})


async def _list(request: web.Request) -> web.StreamResponse:
    return web.json_response(["ok"])


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/login")


async def _huge(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b'{"status": "ok", "pad": "' + b"x" * 70_000 + b'"}')


async def _binary(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"\xff\xfe\x00")


async def _hang_up(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


@pytest.mark.parametrize(
    ("handler", "error", "reason"),
    [
        (_html, NasReplyError, "not JSON"),
        (_binary, NasReplyError, "not JSON"),
        (_not_ok, NasReplyError, "not a healthy BaluHost status"),
        (_list, NasReplyError, "not a healthy BaluHost status"),
        (_redirect, NasReplyError, "HTTP 302"),
        (_huge, NasReplyError, "too large"),
        (_hang_up, NasUnreachableError, "connection failed"),
    ],
)
async def test_wrong_peers_are_not_taken_for_a_nas(
    session: aiohttp.ClientSession,
    peer: Serve,
    handler: Handler,
    error: type[Exception],
    reason: str,
) -> None:
    url = await peer({("GET", "/api/health"): handler})
    with pytest.raises(error, match=reason):
        await fetch_health(session, url, timeout=2)


async def test_odd_version_values_are_kept_short(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    async def odd(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "version": 2 * "v" * 100})

    url = await peer({("GET", "/api/health"): odd})
    health = await fetch_health(session, url, timeout=2)
    assert health.version == "v" * 64
    assert health.api_version is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            aiohttp.ClientConnectorCertificateError(
                ConnectionKey("192.0.2.1", 443, True, True, None, None, None),
                ssl.SSLCertVerificationError("self-signed certificate"),
            ),
            "TLS certificate not accepted (use http:// or a trusted certificate)",
        ),
        (
            aiohttp.ClientConnectorSSLError(
                ConnectionKey("192.0.2.1", 443, True, True, None, None, None),
                ssl.SSLError("wrong version number"),
            ),
            "TLS handshake failed",
        ),
    ],
)
def test_tls_failures_are_named(
    error: aiohttp.ClientConnectorError, reason: str
) -> None:
    """An https peer with a self-signed certificate gives a reason, not a crash."""
    assert connect_reason(error) == reason
