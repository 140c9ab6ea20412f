"""Pushes from a sender without the secret: refused early, cheaply, with one log line.

These talk raw HTTP/1.1 to Home Assistant's test server, so that a request can send
its headers and hold back its body, as a hostile sender on the LAN would. Where the
old receiver would wait for such a body forever, ``answer`` gives up after
``HANG_GUARD`` seconds and the test fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
import json
import logging
import time
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi import views
from custom_components.balupi.handshake import MAX_BODY
from custom_components.balupi.views import DATA_BODY_LIMITS
from simulators.nas_push import OFFLINE_PATH, ONLINE_PATH, NasPushClient, signed_headers
from simulators.snapshot import make_snapshot

from .conftest import SECRET, WEBHOOK_GOING_OFFLINE

NAS_STATE = "sensor.baluhost_nas_state"
HANG_GUARD = 20.0
"""Seconds a test waits for an answer that should come at once."""
FORGED = "0123456789abcdef" * 4
"""A well-formed signature that no secret made."""
WEBHOOK_PATH = f"/api/webhook/{WEBHOOK_GOING_OFFLINE}"


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP reply as read off the socket."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RawRequest:
    """One request on its own connection, its body sent piece by piece."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> Answer:
        """The reply (status and body), or a failed test after HANG_GUARD."""
        async with asyncio.timeout(HANG_GUARD):
            status_line = await self.reader.readline()
            length = 0
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await self.reader.readexactly(length)
        return Answer(int(status_line.split()[1]), body)

    async def hung_up(self) -> bool:
        """Whether the server closed the connection (after its answer)."""
        try:
            async with asyncio.timeout(HANG_GUARD):
                return await self.reader.read() == b""
        except ConnectionResetError:
            return True


@pytest.fixture
async def open_request(
    hass_client_no_auth: ClientSessionGenerator,
) -> AsyncIterator[Callable[..., Any]]:
    """Send a POST's request line and headers; the body is up to the test."""
    client: TestClient = await hass_client_no_auth()
    opened: list[RawRequest] = []

    async def open_request(
        path: str, headers: dict[str, str], *, length: int | None
    ) -> RawRequest:
        assert client.server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(
            f"Content-Length: {length}"
            if length is not None
            else "Transfer-Encoding: chunked"
        )
        request = RawRequest(reader, writer)
        await request.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        opened.append(request)
        return request

    yield open_request
    for request in opened:
        request.writer.close()
        with contextlib.suppress(OSError):
            await request.writer.wait_closed()


def forged_headers(**changes: str) -> dict[str, str]:
    """Headers that pass every check that needs no body; the signature is made up."""
    headers = {
        "Content-Type": "application/json",
        "X-Balupi-Timestamp": str(int(time.time())),
        "X-Balupi-Signature": FORGED,
    }
    headers.update(changes)
    return {name: value for name, value in headers.items() if value}


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds (it changes in Home Assistant's handlers)."""
    async with asyncio.timeout(HANG_GUARD):
        while not condition():  # noqa: ASYNC110 -- nothing to await but the handlers
            await asyncio.sleep(0.01)


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.balupi")
        and record.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize(
    ("make_headers", "reason"),
    [
        pytest.param(
            lambda: {"Content-Type": "application/json"}, "missing signature headers",
            id="unsigned",
        ),
        pytest.param(
            lambda: forged_headers(**{"X-Balupi-Timestamp": "1e9"}),
            "invalid timestamp", id="bad-timestamp",
        ),
        pytest.param(
            lambda: forged_headers(
                **{"X-Balupi-Timestamp": str(int(time.time()) - 3600)}
            ),
            "timestamp outside the 60 s window", id="stale",
        ),
        pytest.param(
            lambda: forged_headers(**{"X-Balupi-Signature": "not-hex"}),
            "malformed signature", id="bad-signature",
        ),
    ],
)  # fmt: skip
async def test_a_push_without_valid_headers_is_refused_before_its_body(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    open_request: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    make_headers: Callable[[], dict[str, str]],
    reason: str,
) -> None:
    """The reply comes while 1 MiB of body is still announced and not sent.

    The server hangs up rather than read what is left of such a body.
    """
    request = await open_request(OFFLINE_PATH, make_headers(), length=MAX_BODY)
    await request.send(b"[" * 1024)
    answer = await request.answer()
    assert answer.status == 401
    assert answer.json() == {"acknowledged": False, "error": reason}
    assert await request.hung_up()
    assert hass.states.get(NAS_STATE).state == "online"
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_nas_with_a_wrong_clock_keeps_its_connection(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    open_request: Callable[..., Any],
) -> None:
    """A small body is read after all: the NAS gets its 401 and a usable connection."""
    body = json.dumps(make_snapshot()).encode()
    headers = forged_headers(**{"X-Balupi-Timestamp": str(int(time.time()) - 3600)})
    request = await open_request(OFFLINE_PATH, headers, length=len(body))
    await request.send(body)
    answer = await request.answer()
    assert answer.status == 401
    assert answer.json()["error"] == "timestamp outside the 60 s window"
    await request.send(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await request.answer()).status == 200


async def test_a_replayed_signature_is_refused_before_its_body(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    open_request: Callable[..., Any],
) -> None:
    """A signature accepted once is refused at the headers the second time."""
    headers = signed_headers(
        SECRET, "POST", ONLINE_PATH, None, timestamp=int(time.time())
    )
    client = await hass_client_no_auth()
    assert (await client.post(ONLINE_PATH, headers=headers)).status == 200
    request = await open_request(ONLINE_PATH, headers, length=MAX_BODY)
    answer = await request.answer()
    assert answer.status == 401
    assert answer.json()["error"] == "signature already used"


HOSTILE_BODIES = [
    pytest.param(b"[" * 100_000, 400, "body is not JSON", id="nested-unclosed"),
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000, 401, "invalid signature", id="nested-closed"
    ),
    pytest.param(
        b"[" * 8000 + b"]" * 8000, 401, "invalid signature", id="nested-8000"
    ),
    pytest.param(
        b'{"n": ' + b"9" * 5000 + b"}", 400, "body is not JSON", id="5000-digits"
    ),
    pytest.param(b'{"n": "\xff\xfe"}', 400, "body is not JSON", id="bad-utf-8"),
    pytest.param(b"not json at all", 400, "body is not JSON", id="not-json"),
    pytest.param(
        json.dumps(make_snapshot(users=4000)).encode(), 401, "invalid signature",
        id="large-snapshot",
    ),
]  # fmt: skip


@pytest.mark.parametrize("path", [OFFLINE_PATH, WEBHOOK_PATH])
@pytest.mark.parametrize(("body", "status", "reason"), HOSTILE_BODIES)
async def test_any_body_gets_a_client_error_and_one_log_line(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: bytes,
    status: int,
    reason: str,
) -> None:
    """On the fixed path and on the webhook: a 4xx, one warning, no traceback."""
    client = await hass_client_no_auth()
    response = await client.post(path, data=body, headers=forged_headers())
    assert response.status == status
    assert await response.json() == {"acknowledged": False, "error": reason}
    (warning,) = warnings(caplog)
    assert reason in warning.getMessage()
    assert not [record for record in caplog.records if record.exc_info]
    assert hass.states.get(NAS_STATE).state == "online"


async def test_a_large_snapshot_from_the_nas_is_accepted(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A snapshot over 16 KiB is parsed in a worker thread, with the same result."""
    client = await hass_client_no_auth()
    snapshot = make_snapshot(users=4000, disks=24)
    assert len(json.dumps(snapshot)) > 100_000
    nas = NasPushClient(client.session, str(client.make_url("")).rstrip("/"), SECRET)
    reply = await nas.going_offline(snapshot)
    assert reply.ok, reply
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    kept = loaded_entry.runtime_data.nas.snapshots.current
    assert kept is not None
    assert kept.data["smart_health"] == snapshot["smart_health"]


@pytest.mark.parametrize(
    "length", [100, MAX_BODY, None], ids=["small", "large", "chunked"]
)
async def test_a_body_that_does_not_arrive_is_cut_off(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    open_request: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    length: int | None,
) -> None:
    """A sender that stops after a few bytes gets 408 once the deadline passed."""
    monkeypatch.setattr(views, "BODY_DEADLINE", 0.3)
    request = await open_request(OFFLINE_PATH, forged_headers(), length=length)
    await request.send(b'5\r\n{"a":' if length is None else b'{"a":')
    answer = await request.answer()
    assert answer.status == 408
    assert answer.json()["error"] == "body not received within 0.3 s"


async def test_large_bodies_wait_for_a_slot_while_the_nas_gets_through(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    open_request: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slow large bodies take the slots; one more waits and gets 429.

    The NAS's own pushes (a few KB) need no slot and are answered meanwhile. Senders
    that hang up free their slots.
    """
    monkeypatch.setattr(views, "BODY_DEADLINE", 60.0)
    holders = [
        await open_request(OFFLINE_PATH, forged_headers(), length=MAX_BODY)
        for _ in range(views.BODY_SLOTS)
    ]
    slots = hass.data[DATA_BODY_LIMITS].slots
    await until(slots.locked)
    monkeypatch.setattr(views, "BODY_DEADLINE", 0.3)
    late = await open_request(OFFLINE_PATH, forged_headers(), length=MAX_BODY)

    client = await hass_client_no_auth()
    nas = NasPushClient(client.session, str(client.make_url("")).rstrip("/"), SECRET)
    reply = await nas.going_offline(make_snapshot())
    assert reply.ok, reply

    answer = await late.answer()
    assert answer.status == 429
    assert answer.json()["error"] == "too many pushes at once"
    for holder in holders:
        holder.writer.close()
    await until(lambda: not slots.locked())
    (warning,) = warnings(caplog)
    assert "too many pushes at once" in warning.getMessage()
    assert not [record for record in caplog.records if record.exc_info]
