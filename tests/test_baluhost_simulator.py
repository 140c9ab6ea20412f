"""The simulated NAS: power states, boot after a Wake-on-LAN packet, its signed pushes
to the Pi and its shutdown snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
import hashlib
import json
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.balupi.handshake import (
    PushRejectedError,
    PushVerifier,
    VerifiedPush,
    canonical_body_hash,
    signature,
)
from custom_components.balupi.nas_client import NasUnreachableError, fetch_health
from custom_components.balupi.wol import send_magic_packet
from simulators.baluhost import (
    ACTIVE_W,
    OFF_W,
    STANDBY_W,
    BaluHostSimulator,
    NasCondition,
    NasControl,
    NasMode,
    _push_once,
)
from simulators.nas_push import (
    OFFLINE_PATH,
    ONLINE_PATH,
    NasPushClient,
    PushReply,
    canonical_body,
    signed_headers,
    wire_body,
)
from simulators.server import free_port
from simulators.snapshot import make_snapshot, snapshot_of_size
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import Handler, Serve


@pytest.fixture
async def session(socket_enabled: None) -> aiohttp.ClientSession:
    async with aiohttp.ClientSession() as client:
        yield client  # type: ignore[misc]


async def test_power_states_drive_the_plug(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    plug = TapoPlugSimulator()
    nas.plug = plug
    await nas.sleep()
    assert nas.condition is NasCondition.ASLEEP
    assert plug.power_w == STANDBY_W
    await nas.shut_down()
    assert nas.condition is NasCondition.OFF
    assert plug.power_w == OFF_W
    with pytest.raises(NasUnreachableError):
        await fetch_health(session, nas.url, timeout=0.2)
    await nas.run()
    assert nas.condition is NasCondition.RUNNING
    assert plug.power_w == ACTIVE_W
    assert (await fetch_health(session, nas.url, timeout=1)).version == nas.version
    assert nas.wakeups == []


async def test_a_health_request_wakes_a_sleeping_nas(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    """BaluHost's soft sleep ends on any request: the simulator counts wake-ups."""
    plug = TapoPlugSimulator()
    nas.plug = plug
    await nas.sleep()
    assert nas.request_wakeups == 0
    # The server stays reachable in soft sleep; the request wakes it and is answered.
    assert (await fetch_health(session, nas.url, timeout=1)).version == nas.version
    assert nas.condition is NasCondition.RUNNING
    assert plug.power_w == ACTIVE_W
    assert nas.request_wakeups == 1
    await fetch_health(session, nas.url, timeout=1)  # awake: no wake-up
    assert nas.request_wakeups == 1
    assert [wakeup.by for wakeup in nas.wakeups] == ["request"]

    await nas.sleep()
    await nas.wake()  # someone uses it: a wake-up, not by a request
    assert [wakeup.by for wakeup in nas.wakeups] == ["request", "by hand"]
    assert nas.request_wakeups == 1


async def test_a_cut_plug_cuts_the_nas(nas: BaluHostSimulator) -> None:
    plug = TapoPlugSimulator()
    nas.plug = plug
    await nas.run()
    plug.is_on = False  # the relay: by BaluPi's switch, or the control endpoint
    await asyncio.sleep(0)
    assert nas.condition is NasCondition.OFF
    assert plug.reported_power_w == 0
    plug.is_on = True
    await asyncio.sleep(0)
    assert nas.condition is NasCondition.OFF, "it stays off until woken"
    assert plug.reported_power_w == OFF_W
    nas.plug = None
    assert plug.on_switch is None, "unlinked"


async def test_a_magic_packet_boots_the_nas(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    plug = TapoPlugSimulator()
    nas.plug = plug
    nas.boot_time = 0.2
    await nas.shut_down()
    port = await nas.listen_for_wake_on_lan()

    await send_magic_packet("aa:bb:cc:99:99:99", broadcast="127.0.0.1", port=port)
    await send_magic_packet(nas.mac, broadcast="127.0.0.1", port=port)
    await asyncio.sleep(0.05)
    assert nas.wol_packets == 1, "only the packet for its own MAC counts"
    assert nas.woken_at is not None
    assert nas.up_at is None
    assert plug.power_w == STANDBY_W, "booting: firmware and disks first"
    with pytest.raises(NasUnreachableError):
        await fetch_health(session, nas.url, timeout=0.05)

    await asyncio.sleep(0.3)
    assert plug.power_w == ACTIVE_W
    assert nas.up_at is not None
    assert nas.up_at - nas.woken_at >= 0.2
    assert (await fetch_health(session, nas.url, timeout=1)).version == nas.version

    # A running NAS ignores the packet; a sleeping one wakes (a boot's time long).
    await send_magic_packet(nas.mac, broadcast="127.0.0.1", port=port)
    await asyncio.sleep(0.05)
    assert nas.condition is NasCondition.RUNNING
    await nas.sleep()
    await send_magic_packet(nas.mac, broadcast="127.0.0.1", port=port)
    await asyncio.sleep(0.05)
    assert nas.condition is NasCondition.BOOTING
    await asyncio.sleep(0.3)
    assert nas.condition is NasCondition.RUNNING
    assert [wakeup.by for wakeup in nas.wakeups] == ["magic packet"]
    assert nas.request_wakeups == 0

    # Without power at its plug, nothing boots.
    await nas.shut_down()
    plug.is_on = False
    await send_magic_packet(nas.mac, broadcast="127.0.0.1", port=port)
    await asyncio.sleep(0.05)
    assert nas.condition is NasCondition.OFF


# -- The NAS's signed pushes to the Pi (simulators.nas_push) ---------------------

SECRET = "Kq3dV0x9r0mN7pL2wT5yH8cJ1fB4gZ6sA-eU_iO3qW9xR2tY"  # 48 URL-safe chars
NOW = 1_795_700_000
GENERATED_AT = datetime(2026, 11, 26, 20, 12, 11, 123456, tzinfo=UTC)


@dataclass
class Received:
    """One request as it reached the Pi, and what our verifier made of it."""

    path: str
    headers: dict[str, str]
    raw: bytes
    push: VerifiedPush | None


class Pi:
    """A receiver that verifies like ours (PushVerifier) and acknowledges."""

    def __init__(self, signed_path: str, reply: dict[str, Any]) -> None:
        self.signed_path = signed_path
        self.reply = reply
        self.verifier = PushVerifier(SECRET, clock=lambda: NOW)
        self.received: list[Received] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        received = Received(request.path, dict(request.headers), raw, None)
        self.received.append(received)
        try:
            received.push = self.verifier.verify(
                request.method, self.signed_path, request.headers, raw
            )
        except PushRejectedError as err:
            return web.json_response({"detail": err.reason}, status=err.status)
        return web.json_response(self.reply)


OFFLINE_ACK = {"acknowledged": True, "dns_switched": True}
ONLINE_ACK = {"acknowledged": True, "inbox_flushed": True, "files_transferred": 3}


def nas_client(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> NasPushClient:
    """The NAS's client, its clock a fraction past NOW (the header truncates it)."""
    return NasPushClient(session, url, SECRET, clock=lambda: NOW + 0.9, **kwargs)


async def test_going_offline_signs_like_baluhost_and_sends_other_bytes(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    snapshot = make_snapshot(generated_at=GENERATED_AT)
    pi = Pi(OFFLINE_PATH, OFFLINE_ACK)
    url = await peer({("POST", OFFLINE_PATH): pi.handle})

    reply = await nas_client(session, url).going_offline(snapshot)

    assert reply == PushReply(True, 200, OFFLINE_ACK, None)
    (received,) = pi.received
    assert received.push is not None
    assert received.push.body == snapshot
    assert received.headers["X-Balupi-Timestamp"] == str(NOW)
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Content-Length"] == str(len(received.raw))
    # httpx 0.27's serialisation, not the canonical bytes that were hashed.
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()
    assert received.raw == json.dumps(snapshot).encode() == wire_body(snapshot)
    assert received.raw != canonical
    assert b'"username": "j\\u00fcrgen"' in received.raw
    # A receiver hashing the raw bytes (the old Pi) rejects it; the canonical hash
    # is what was signed.
    raw_hash = hashlib.sha256(received.raw).hexdigest()
    stamp = received.headers["X-Balupi-Timestamp"]
    given = received.headers["X-Balupi-Signature"]
    assert given != signature(SECRET, "POST", OFFLINE_PATH, stamp, raw_hash)
    assert given == signature(
        SECRET, "POST", OFFLINE_PATH, stamp, canonical_body_hash(snapshot)
    )


async def test_coming_online_has_an_empty_signed_body(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    pi = Pi(ONLINE_PATH, ONLINE_ACK)
    url = await peer({("POST", ONLINE_PATH): pi.handle})

    reply = await nas_client(session, url).coming_online()

    assert reply == PushReply(True, 200, ONLINE_ACK, None)
    (received,) = pi.received
    assert received.push is not None
    assert received.push.body is None
    assert received.raw == b""
    assert received.headers["Content-Length"] == "0"
    assert received.headers["Content-Type"] == "application/json"
    assert "Transfer-Encoding" not in received.headers
    empty = hashlib.sha256(b"").hexdigest()
    assert received.headers["X-Balupi-Signature"] == signature(
        SECRET, "POST", ONLINE_PATH, str(NOW), empty
    )


async def test_a_prefix_in_the_base_url_is_sent_but_not_signed(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    pi = Pi(OFFLINE_PATH, OFFLINE_ACK)
    url = await peer({("POST", "/balupi" + OFFLINE_PATH): pi.handle})

    reply = await nas_client(session, url + "/balupi/").going_offline(make_snapshot())

    assert reply.ok
    (received,) = pi.received
    assert received.path == "/balupi" + OFFLINE_PATH
    # Verifying against the path the request really had fails.
    with pytest.raises(PushRejectedError, match="invalid signature"):
        PushVerifier(SECRET, clock=lambda: NOW).verify(
            "POST", received.path, received.headers, received.raw
        )


async def test_webhook_paths_are_sent_and_signed(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    webhook = "/api/webhook/0123abcd"
    pi = Pi(webhook, {"acknowledged": True})
    url = await peer({("POST", webhook): pi.handle})
    client = nas_client(session, url, path_offline=webhook, path_online=webhook)

    assert (await client.going_offline(make_snapshot())).ok
    assert (await client.coming_online()).ok
    assert [r.push is not None for r in pi.received] == [True, True]


async def test_the_same_push_in_the_same_second_is_a_replay(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    pi = Pi(ONLINE_PATH, ONLINE_ACK)
    client = nas_client(session, await peer({("POST", ONLINE_PATH): pi.handle}))
    assert (await client.coming_online()).ok
    assert await client.coming_online() == PushReply(
        False, 401, {"detail": "signature already used"}, "HTTP 401"
    )


async def test_forged_requests_from_the_helpers(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    snapshot = make_snapshot(users=1, generated_at=GENERATED_AT)
    pi = Pi(OFFLINE_PATH, OFFLINE_ACK)
    target = await peer({("POST", OFFLINE_PATH): pi.handle}) + OFFLINE_PATH

    async def post(headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        async with session.post(target, data=raw, headers=headers) as reply:
            return reply.status, await reply.json()

    def headers(timestamp: int, body: Any = snapshot) -> dict[str, str]:
        return signed_headers(SECRET, "POST", OFFLINE_PATH, body, timestamp=timestamp)

    assert await post(headers(NOW - 61), wire_body(snapshot)) == (
        401,
        {"detail": "timestamp outside the 60 s window"},
    )
    tampered = wire_body(snapshot).replace(b'"admin"', b'"user"')
    assert await post(headers(NOW), tampered) == (401, {"detail": "invalid signature"})
    assert await post(headers(NOW), wire_body(snapshot)) == (200, OFFLINE_ACK)
    assert await post(headers(NOW), wire_body(snapshot)) == (
        401,
        {"detail": "signature already used"},
    )
    # The helpers sign exactly like the integration's verifier expects.
    forged = headers(NOW, None)
    assert forged["X-Balupi-Signature"] == signature(
        SECRET, "POST", OFFLINE_PATH, str(NOW), hashlib.sha256(b"").hexdigest()
    )
    assert (
        canonical_body(snapshot)
        == json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()
    )
    with pytest.raises(ValueError, match="not configured"):
        signed_headers("", "POST", OFFLINE_PATH, None, timestamp=NOW)


def _reply(body: bytes | None, status: int = 200, **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=body, status=status, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            _reply(b'{"detail": "Invalid HMAC signature"}', 401),
            PushReply(False, 401, {"detail": "Invalid HMAC signature"}, "HTTP 401"),
        ),
        (
            _reply(b"Internal Server Error", 500),
            PushReply(False, 500, None, "HTTP 500"),
        ),
        (
            _reply(None, 307, Location="/ack"),
            PushReply(False, 307, None, "HTTP 307"),
        ),
        (_reply(b"OK"), PushReply(False, 200, None, "not JSON")),
        (_reply(None, 204), PushReply(False, 204, None, "not JSON")),
        (
            _reply(b'{"acknowledged": false}'),
            PushReply(False, 200, {"acknowledged": False}, "not acknowledged"),
        ),
        (_reply(b"{}"), PushReply(False, 200, {}, "not acknowledged")),
        (_reply(b"null"), PushReply(False, 200, None, "not acknowledged")),
        (_reply(b"[1]"), PushReply(False, 200, None, "not a JSON object")),
        (
            _reply(b'{"acknowledged": "yes"}', 202),
            PushReply(True, 202, {"acknowledged": "yes"}, None),
        ),
    ],
)
async def test_how_the_nas_judges_replies(
    session: aiohttp.ClientSession, peer: Serve, handler: Handler, expected: PushReply
) -> None:
    followed = 0

    async def ack(request: web.Request) -> web.StreamResponse:
        nonlocal followed
        followed += 1
        return web.json_response({"acknowledged": True})

    url = await peer({("POST", OFFLINE_PATH): handler, ("*", "/ack"): ack})
    assert await nas_client(session, url).going_offline(make_snapshot()) == expected
    assert followed == 0, "redirects are not followed"


async def test_a_pi_that_does_not_answer_in_time(
    session: aiohttp.ClientSession, peer: Serve
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.5)
        return web.json_response({"acknowledged": True})

    url = await peer({("POST", ONLINE_PATH): slow})
    client = nas_client(session, url, timeout_online=0.1)
    assert client.timeout_offline == 10.0
    assert await client.coming_online() == PushReply(False, None, None, "timed out")


async def test_a_pi_that_hangs_up(session: aiohttp.ClientSession, peer: Serve) -> None:
    async def hang_up(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    url = await peer({("POST", ONLINE_PATH): hang_up})
    assert await nas_client(session, url).coming_online() == PushReply(
        False, None, None, "connection failed: ServerDisconnectedError"
    )


async def test_no_pi_and_no_url(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    client = nas_client(session, f"http://127.0.0.1:{free_port('127.0.0.1')}")
    assert client.timeout_online == 5.0
    assert await client.coming_online() == PushReply(
        False, None, None, "connection refused"
    )
    assert await nas_client(session, "").coming_online() == PushReply(
        False, None, None, "balupi_url not configured"
    )


async def test_the_command_line_push(peer: Serve) -> None:
    webhook = "/api/webhook/demo"
    pi = Pi(webhook, {"acknowledged": True})
    url = await peer({("POST", webhook): pi.handle})
    pi.verifier = PushVerifier(SECRET)  # the command line uses the real clock
    assert await _push_once(url, SECRET, webhook, offline=True)
    assert await _push_once(url, SECRET, webhook, offline=False)
    assert not await _push_once(url, "x" * 48, webhook, offline=False)
    assert [r.push is not None for r in pi.received] == [True, True, False]


async def test_the_nas_pushes_itself_when_it_shuts_down_and_boots(
    session: aiohttp.ClientSession, nas: BaluHostSimulator, peer: Serve
) -> None:
    """With ``push`` set: goodbye, services stop, power off later; hello after a boot."""
    offline, online = Pi(OFFLINE_PATH, OFFLINE_ACK), Pi(ONLINE_PATH, ONLINE_ACK)
    url = await peer(
        {("POST", OFFLINE_PATH): offline.handle, ("POST", ONLINE_PATH): online.handle}
    )
    offline.verifier = online.verifier = PushVerifier(SECRET)
    plug = TapoPlugSimulator()
    nas.plug = plug
    nas.push = NasPushClient(session, url, SECRET)
    nas.shutdown_time = 0.2
    nas.boot_time = 0.1
    await nas.run()

    reply = await nas.shut_down_gracefully()
    assert reply is not None
    assert reply.ok
    assert nas.condition is NasCondition.SHUTTING_DOWN
    assert nas.mode is NasMode.REFUSED
    assert plug.power_w == ACTIVE_W, "still powering down"
    await asyncio.sleep(0.3)
    assert nas.condition is NasCondition.OFF
    assert plug.power_w == OFF_W

    await nas.power_button()
    await asyncio.sleep(0.3)
    assert nas.condition is NasCondition.RUNNING
    assert [r.push is not None for r in (*offline.received, *online.received)] == [
        True,
        True,
    ]
    assert [reply.ok for reply in nas.pushes] == [True, True]


async def test_the_control_endpoints(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    plug = TapoPlugSimulator()
    await plug.start()
    try:
        nas.plug = plug
        control = NasControl(nas, plug, wol_port=9)
        port = free_port("127.0.0.1")
        await control.start("127.0.0.1", port)
        base = f"http://127.0.0.1:{port}"

        async def post(path: str) -> dict[str, Any]:
            async with session.post(base + path) as response:
                assert response.status == 200, path
                body: dict[str, Any] = await response.json()
                return body

        async with session.get(base + "/") as response:
            status = await response.json()
        assert status["nas"]["condition"] == "running"
        assert status["plug"]["relay"] == "on"
        assert "POST /sleep" in status["endpoints"]

        assert (await post("/sleep"))["nas"]["condition"] == "asleep"
        assert plug.power_w == STANDBY_W
        assert (await post("/wake"))["nas"]["wakeups"][0]["by"] == "by hand"
        assert (await post("/plug/away"))["plug"]["wifi"] == "silent"
        assert plug.mode is PlugMode.SILENT
        assert (await post("/plug/back"))["plug"]["wifi"] == "online"
        done = await post("/plug/off")
        await asyncio.sleep(0)
        assert done["plug"]["relay"] == "off"
        assert nas.condition is NasCondition.OFF
        await post("/plug/on")
        nas.boot_time = 0.05
        await post("/power-button")
        await asyncio.sleep(0.2)
        assert nas.condition is NasCondition.RUNNING
        nas.shutdown_time = 0.05
        assert (await post("/shutdown"))["nas"]["condition"] == "shutting_down"
        await asyncio.sleep(0.2)
        assert nas.condition is NasCondition.OFF
        await control.stop()
    finally:
        await plug.stop()


# -- The snapshot (simulators.snapshot) -------------------------------------------


def test_snapshot_v1_shape_and_key_order() -> None:
    snapshot = make_snapshot(generated_at=GENERATED_AT)
    assert list(snapshot) == [
        "version",
        "generated_at",
        "baluhost_version",
        "system",
        "storage",
        "smart_health",
        "services",
        "users",
        "files_summary",
    ]
    assert snapshot["version"] == 1
    assert snapshot["generated_at"] == "2026-11-26T20:12:11.123456+00:00"
    assert snapshot["baluhost_version"] == "1.15.6"
    assert list(snapshot["system"]) == [
        "hostname",
        "uptime_seconds",
        "cpu_model",
        "ram_total_gb",
    ]
    assert snapshot["system"]["hostname"] == "baluhost"
    assert snapshot["storage"]["arrays"] == [
        {
            "name": "md0",
            "level": "raid1",
            "state": "optimal",
            "size_bytes": 4_000_787_030_016,
            "devices": ["sda1", "sdb1"],
        }
    ]
    assert list(snapshot["storage"]) == ["arrays", "total_bytes", "used_bytes"]
    assert snapshot["storage"]["total_bytes"] == 4_000_787_030_016
    assert list(snapshot["smart_health"]) == ["/dev/sda", "/dev/sdb"]
    assert list(snapshot["smart_health"]["/dev/sda"]) == [
        "status",
        "temperature_c",
        "power_on_hours",
    ]
    services = snapshot["services"]
    assert list(services) == ["vpn", "shares", "backups"]
    assert list(services["vpn"]) == ["active_clients"]
    assert list(services["shares"]) == ["active_shares"]
    last_backup = services["backups"]["last_backup"]
    assert datetime.fromisoformat(last_backup).tzinfo is None, "naive, as the NAS"
    assert snapshot["users"] == {
        "total": 3,
        "list": [
            {"username": "jürgen", "role": "admin"},
            {"username": "anna", "role": "user"},
            {"username": "mehmet", "role": "user"},
        ],
    }
    assert list(snapshot["files_summary"]) == ["total_files", "total_size_bytes"]
    assert json.loads(wire_body(snapshot)) == snapshot
    assert make_snapshot(generated_at=GENERATED_AT) == snapshot, "deterministic"


def test_snapshot_with_failing_disks_and_more_arrays() -> None:
    snapshot = make_snapshot(
        disks=5,
        arrays=2,
        failing_disks=("/dev/sdc",),
        users=0,
        hostname="nas2",
        version="1.16.2",
        generated_at=datetime(2026, 1, 2, 3, 4, 5),  # naive: UTC
    )
    assert snapshot["generated_at"] == "2026-01-02T03:04:05+00:00"
    arrays = snapshot["storage"]["arrays"]
    assert [(a["name"], a["level"], a["state"], a["devices"]) for a in arrays] == [
        ("md0", "raid5", "degraded", ["sda1", "sdc1", "sde1"]),
        ("md1", "raid1", "optimal", ["sdb1", "sdd1"]),
    ]
    assert snapshot["storage"]["total_bytes"] == 3 * 4_000_787_030_016
    assert snapshot["smart_health"]["/dev/sdc"]["status"] == "FAILED"
    assert snapshot["smart_health"]["/dev/sdb"]["status"] == "PASSED"
    assert snapshot["users"] == {"total": 0, "list": []}
    assert make_snapshot(disks=1, failing_disks=("sda",))["storage"]["arrays"][0][
        "level"
    ] == ("raid0")
    assert make_snapshot(disks=0, arrays=0)["storage"]["arrays"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": -1}, "negative"),
        ({"disks": 1, "arrays": 2}, "2 arrays need at least 2 disks"),
        ({"failing_disks": ("sdz",)}, "no such disk: sdz"),
    ],
)
def test_snapshot_refuses_impossible_nases(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_snapshot(**kwargs)


@pytest.mark.parametrize("target", [5_000, 50_000, 1_000_000])
def test_snapshot_of_size(target: int) -> None:
    snapshot = snapshot_of_size(target, generated_at=GENERATED_AT)
    assert abs(len(wire_body(snapshot)) - target) <= 30
    assert snapshot["users"]["total"] == len(snapshot["users"]["list"])
    assert len({u["username"] for u in snapshot["users"]["list"]}) == len(
        snapshot["users"]["list"]
    )


def test_snapshot_of_a_small_size_has_one_user() -> None:
    assert snapshot_of_size(10)["users"]["total"] == 1
