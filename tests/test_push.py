"""The NAS's pushes through Home Assistant's HTTP server, as the real NAS sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import time
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util.file import WriteError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi import lifecycle
from custom_components.balupi.const import DOMAIN
from simulators.baluhost import BaluHostSimulator
from simulators.nas_push import (
    OFFLINE_PATH,
    ONLINE_PATH,
    NasPushClient,
    signed_headers,
    wire_body,
)
from simulators.pihole import PiholeMode, PiholeSimulator
from simulators.snapshot import make_snapshot

from .conftest import (
    NAS_MAC,
    PI_IP,
    SECRET,
    WEBHOOK_COMING_ONLINE,
    WEBHOOK_GOING_OFFLINE,
    device_with_mac,
    entry_data,
)

NAS_STATE = "sensor.baluhost_nas_state"
SECOND_SECRET = "another-secret-of-the-second-nas-0123"


def base_url(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


def nas_client(client: TestClient, secret: str = SECRET, **paths: str) -> NasPushClient:
    """A push client that behaves exactly like the BaluHost NAS."""
    return NasPushClient(client.session, base_url(client), secret, **paths)


def record(pihole: PiholeSimulator) -> list[str]:
    return [r for r in pihole.hosts if r.endswith(" baluhost.local")]


async def test_nas_pushes_are_acknowledged(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Shutdown with a snapshot, then startup, exactly as the NAS sends them."""
    client = await hass_client_no_auth()
    nas = nas_client(client)
    assert hass.states.get(NAS_STATE).state == "online"

    snapshot = make_snapshot(failing_disks=("/dev/sdb",), version="1.16.0")
    reply = await nas.going_offline(snapshot)
    await hass.async_block_till_done()
    assert reply.ok, reply
    assert reply.body == {"acknowledged": True, "dns_switched": False}
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    # The snapshot's figures show on the NAS device while it is away.
    assert hass.states.get("sensor.baluhost_nas_last_snapshot").state != "unavailable"
    assert hass.states.get("sensor.baluhost_nas_disks_failing_smart").state == "1"
    assert hass.states.get("sensor.baluhost_nas_disks_failing_smart").attributes[
        "disks"
    ] == ["/dev/sdb"]
    device = device_with_mac(dr.async_get(hass), loaded_entry, NAS_MAC)
    assert device is not None
    assert device.sw_version == "1.16.0"

    reply = await nas.coming_online()
    await hass.async_block_till_done()
    assert reply.ok, reply
    assert reply.body == {
        "acknowledged": True,
        "dns_switched": False,
        "inbox_flushed": False,
        "files_transferred": 0,
    }
    assert hass.states.get(NAS_STATE).state == "online"


def without_user_list(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot as BaluPi keeps it: users.total, not the names."""
    return {**snapshot, "users": {"total": snapshot["users"]["total"]}}


async def test_snapshot_is_kept_without_user_names_and_survives_a_reload(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    hass_client: ClientSessionGenerator,
    nas: BaluHostSimulator,
) -> None:
    """The action and the view return the snapshot, also after a restart.

    Any signed-in user may read them, so the NAS's user names are not kept (as in
    the diagnostics); everything else is as the NAS sent it.
    """
    snapshot = make_snapshot(users=5)
    assert (await nas_client(await hass_client_no_auth()).going_offline(snapshot)).ok
    await nas.shut_down()
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()

    response = await hass.services.async_call(
        DOMAIN, "get_snapshot", {}, blocking=True, return_response=True
    )
    assert response is not None
    assert response["snapshot"] == without_user_list(snapshot)
    assert response["snapshot"]["users"] == {"total": 5}
    user = await hass_client()
    got = await user.get("/api/handshake/snapshot")
    assert got.status == 200
    assert await got.json() == without_user_list(snapshot)
    status = await (await user.get("/api/handshake/status")).json()
    assert status["nas_state"] == "shutting_down"
    assert status["last_snapshot"] == response["received_at"]


async def test_pushes_arrive_as_webhooks_too(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A NAS that posts to the webhooks signs the webhook path it posts to."""
    nas = nas_client(
        await hass_client_no_auth(),
        path_offline=f"/api/webhook/{WEBHOOK_GOING_OFFLINE}",
        path_online=f"/api/webhook/{WEBHOOK_COMING_ONLINE}",
    )
    reply = await nas.going_offline(make_snapshot())
    await hass.async_block_till_done()
    assert reply.ok, reply
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    reply = await nas.coming_online()
    await hass.async_block_till_done()
    assert reply.ok, reply
    assert hass.states.get(NAS_STATE).state == "online"


async def test_webhooks_go_away_with_the_entry(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """After unloading, a push to the webhook reaches nothing (HA answers 200, empty)."""
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    nas = nas_client(
        await hass_client_no_auth(),
        path_offline=f"/api/webhook/{WEBHOOK_GOING_OFFLINE}",
    )
    reply = await nas.going_offline(make_snapshot())
    assert not reply.ok
    # And the fixed path says BaluPi is not loaded.
    reply = await nas_client(await hass_client_no_auth()).going_offline(make_snapshot())
    assert reply.status == 503


def _request(
    body: Any, *, secret: str = SECRET, path: str = OFFLINE_PATH, age: int = 0
) -> tuple[dict[str, str], bytes]:
    headers = signed_headers(
        secret, "POST", path, body, timestamp=int(time.time()) - age
    )
    return headers, b"" if body is None else wire_body(body)


def _with(header: str, value: str) -> tuple[dict[str, str], bytes]:
    headers, body = _request(None)
    return {**headers, header: value}, body


BadPush = Callable[[], tuple[dict[str, str], bytes]]


@pytest.mark.parametrize(
    ("bad_push", "status", "reason"),
    [
        pytest.param(
            lambda: _request(make_snapshot(), secret="w" * 48), 401,
            "invalid signature", id="forged",
        ),
        pytest.param(
            lambda: _request(make_snapshot(), age=61), 401,
            "timestamp outside the 60 s window", id="stale",
        ),
        pytest.param(
            lambda: _request(make_snapshot(), age=-61), 401,
            "timestamp outside the 60 s window", id="from-the-future",
        ),
        pytest.param(
            lambda: ({"Content-Type": "application/json"}, wire_body(make_snapshot())),
            401, "missing signature headers", id="unsigned",
        ),
        pytest.param(
            lambda: _with("X-Balupi-Timestamp", "yesterday"), 401,
            "invalid timestamp", id="bad-timestamp",
        ),
        pytest.param(
            lambda: _with("X-Balupi-Signature", "zz"), 401, "malformed signature",
            id="bad-signature",
        ),
        pytest.param(
            lambda: (_request(None)[0], b"{not json"), 400, "body is not JSON",
            id="not-json",
        ),
        pytest.param(
            lambda: (_request(None)[0], b"x" * (1024 * 1024 + 1)), 413,
            "body larger than 1 MiB", id="oversized",
        ),
    ],
)  # fmt: skip
async def test_bad_pushes_are_refused_and_change_nothing(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    bad_push: BadPush,
    status: int,
    reason: str,
) -> None:
    """Each bad push gets its status and a short reason; the NAS stays online."""
    client = await hass_client_no_auth()
    headers, body = bad_push()
    response = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert response.status == status
    assert await response.json() == {"acknowledged": False, "error": reason}
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "online"
    assert hass.states.get("sensor.baluhost_nas_last_snapshot").state == "unavailable"


async def test_a_replayed_push_is_refused(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A recorded startup push sent again inside the window changes nothing."""
    client = await hass_client_no_auth()
    headers, body = _request(None, path=ONLINE_PATH)
    first = await client.post(ONLINE_PATH, data=body, headers=headers)
    assert first.status == 200
    assert hass.states.get(NAS_STATE).state == "online"
    assert (await nas_client(client).going_offline(make_snapshot())).ok
    await hass.async_block_till_done()
    again = await client.post(ONLINE_PATH, data=body, headers=headers)
    assert again.status == 401
    assert (await again.json())["error"] == "signature already used"
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "shutting_down"


async def test_a_push_replayed_after_a_restart_is_refused(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A push recorded on the network and sent again after a reload changes nothing."""
    client = await hass_client_no_auth()
    headers, body = _request(make_snapshot())
    first = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert first.status == 200
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    assert (await nas_client(client).coming_online()).ok
    await hass.async_block_till_done()

    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "online"
    again = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert again.status == 401
    assert (await again.json())["error"] == "signature already used"
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "online"

    key = f"{DOMAIN}.accepted_pushes"
    assert len(hass_storage[key]["data"]) == 2
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_a_push_acts_even_when_its_signature_cannot_be_stored(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full SD card (simulated: the tests' storage is in memory) loses no push."""

    async def full_disk(data: object) -> None:
        raise WriteError("No space left on device")

    store = loaded_entry.runtime_data.replay._store
    monkeypatch.setattr(store, "async_save", full_disk)
    client = await hass_client_no_auth()
    headers, body = _request(make_snapshot())
    response = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert response.status == 200
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    assert "Could not store the accepted push's signature" in caplog.text
    again = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert again.status == 401  # refused still, from memory


async def test_a_push_signed_for_another_path_is_refused(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A startup push's signature is no good for the shutdown path."""
    client = await hass_client_no_auth()
    headers, body = _request(None, path=ONLINE_PATH)
    response = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert response.status == 401
    assert hass.states.get(NAS_STATE).state == "online"


async def test_health_answers_the_nas_test_button(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """GET /api/health needs no login and names BaluPi's version and the host."""
    response = await (await hass_client_no_auth()).get("/api/health")
    assert response.status == 200
    reply = await response.json()
    assert reply["status"] == "ok"
    assert reply["version"] == "0.1.0"
    assert reply["hostname"]


async def test_status_and_snapshot_need_a_signed_in_user(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    """Without a login both are 401; with one, no snapshot yet is a 404."""
    anonymous = await hass_client_no_auth()
    for path in ("/api/handshake/status", "/api/handshake/snapshot"):
        assert (await anonymous.get(path)).status == 401
    user = await hass_client()
    assert (await user.get("/api/handshake/snapshot")).status == 404
    status = await (await user.get("/api/handshake/status")).json()
    assert status["nas_state"] == "online"
    assert status["last_snapshot"] is None
    assert (await user.get("/api/handshake/status?entry_id=nope")).status == 404


async def test_pushes_switch_the_dns_record(
    hass: HomeAssistant,
    loaded_dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """baluhost.local points at the NAS while it is up and at the Pi while it is away."""
    assert record(pihole) == [f"{nas.host} baluhost.local"]
    assert hass.states.get("sensor.balupi_dns_points_to").state == "nas"

    client = nas_client(await hass_client_no_auth())
    reply = await client.going_offline(make_snapshot())
    await hass.async_block_till_done()
    assert reply.body == {"acknowledged": True, "dns_switched": True}
    assert record(pihole) == [f"{PI_IP} baluhost.local"]
    assert hass.states.get("sensor.balupi_dns_points_to").state == "pi"

    reply = await client.coming_online()
    await hass.async_block_till_done()
    assert reply.body is not None
    assert reply.body["dns_switched"] is True
    assert record(pihole) == [f"{nas.host} baluhost.local"]
    # Other records are left alone, and one session served it all.
    assert "192.168.178.1 fritz.box" in pihole.hosts
    assert pihole.logins == 1


async def test_a_slow_pihole_does_not_hold_up_the_reply(
    hass: HomeAssistant,
    loaded_dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The NAS gets its answer in time; the switch carries on and the reply says so."""
    monkeypatch.setattr(lifecycle, "PUSH_REPLY_BUDGET", 0.3)
    pihole.latency = 1.0
    started = time.monotonic()
    reply = await nas_client(await hass_client_no_auth()).going_offline(make_snapshot())
    assert time.monotonic() - started < 1.0
    assert reply.body == {
        "acknowledged": True,
        "dns_switched": False,
        "dns_switch": "running",
    }
    await hass.async_block_till_done(wait_background_tasks=True)
    assert record(pihole) == [f"{PI_IP} baluhost.local"]


async def test_a_failed_switch_is_retried_at_the_next_heartbeat(
    hass: HomeAssistant,
    loaded_dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Pi-hole down during the shutdown push: the record follows once it is back."""
    await pihole.set_mode(PiholeMode.REFUSED)
    reply = await nas_client(await hass_client_no_auth()).going_offline(make_snapshot())
    await hass.async_block_till_done()
    assert reply.body == {"acknowledged": True, "dns_switched": False}
    assert hass.states.get("sensor.balupi_dns_points_to").state == "unavailable"

    await nas.shut_down()
    await pihole.set_mode(PiholeMode.UP)
    await loaded_dns_entry.runtime_data.nas.async_refresh()
    await hass.async_block_till_done()
    assert record(pihole) == [f"{PI_IP} baluhost.local"]
    assert hass.states.get("sensor.balupi_dns_points_to").state == "pi"


async def test_a_read_only_app_password_raises_a_repair_issue(
    hass: HomeAssistant,
    dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """403 from the Pi-hole names app_sudo in a repair issue, gone once it works."""
    pihole.app_password = "app-password"
    dns_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        dns_entry, data={**dns_entry.data, "pihole_password": "app-password"}
    )
    assert await hass.config_entries.async_setup(dns_entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"pihole_read_only_{dns_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert record(pihole) == []

    pihole.app_sudo = True
    await dns_entry.runtime_data.nas.async_refresh()
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert len(record(pihole)) == 1


async def test_a_chunked_oversized_push_is_cut_off(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Without a Content-Length the body is read only up to 1 MiB."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    client = await hass_client_no_auth()
    headers, _ = _request(None)
    response = await client.post(OFFLINE_PATH, data=chunks(), headers=headers)
    assert response.status == 413


async def test_a_shutdown_push_without_a_snapshot(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """An empty shutdown push still moves the state; there is just no snapshot."""
    client = await hass_client_no_auth()
    headers, body = _request(None)
    response = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert response.status == 200
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    assert hass.states.get("sensor.baluhost_nas_last_snapshot").state == "unavailable"


async def test_each_nas_is_told_apart_by_its_secret(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    """Two NAS on one Home Assistant: a push moves only the NAS that signed it."""
    second = MockConfigEntry(
        domain=DOMAIN,
        unique_id="aa:bb:cc:00:11:33",
        data={
            **entry_data(nas),
            "nas_mac": "aa:bb:cc:00:11:33",
            "handshake_secret": SECOND_SECRET,
            "webhook_going_offline": "second-going-offline",
            "webhook_coming_online": "second-coming-online",
        },
        minor_version=2,
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    client = await hass_client_no_auth()
    reply = await nas_client(client, SECOND_SECRET).going_offline(make_snapshot())
    await hass.async_block_till_done()
    assert reply.ok
    assert loaded_entry.runtime_data.nas.status.state.value == "online"
    assert second.runtime_data.nas.status.state.value == "shutting_down"
    reply = await nas_client(client, "w" * 48).going_offline(make_snapshot())
    assert reply.status == 401
    assert reply.body == {"acknowledged": False, "error": "invalid signature"}
    # A replay is named as one, though the first entry's secret did not sign it.
    headers, body = _request(None, secret=SECOND_SECRET, path=ONLINE_PATH)
    assert (await client.post(ONLINE_PATH, data=body, headers=headers)).status == 200
    again = await client.post(ONLINE_PATH, data=body, headers=headers)
    assert (await again.json())["error"] == "signature already used"

    user = await hass_client()
    assert (await user.get("/api/handshake/status")).status == 400
    got = await user.get(f"/api/handshake/snapshot?entry_id={second.entry_id}")
    assert got.status == 200
    got = await user.get("/api/handshake/snapshot")
    assert got.status == 400


async def test_a_shutdown_push_while_the_state_is_unknown(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    fast_timeout: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unknown goes straight to offline: no forbidden move is even tried."""
    await nas.shut_down()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "unknown"
    client = await hass_client_no_auth()
    assert (await nas_client(client).going_offline(make_snapshot())).ok
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "offline"
    assert "not allowed" not in caplog.text


async def test_unloading_ends_the_pihole_session(
    hass: HomeAssistant,
    loaded_dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
) -> None:
    """BaluPi frees its API seat when it unloads (16 seats, 30 min each)."""
    assert pihole.active_sessions == 1
    assert await hass.config_entries.async_unload(loaded_dns_entry.entry_id)
    assert pihole.active_sessions == 0
    assert pihole.logouts == 1


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


UNSTORABLE = [
    pytest.param({"storage": {"used_bytes": 2**64}}, "64-bit", id="integer-2**64"),
    pytest.param({"extra": _nested(300)}, "ecursion", id="nested-300"),
    pytest.param({"system": {"hostname": "nas\ud800"}}, "surrogates", id="surrogate"),
]


@pytest.mark.parametrize(("change", "reason"), UNSTORABLE)
async def test_a_snapshot_that_cannot_be_stored_is_dropped_and_the_push_acts(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    loaded_dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    reason: str,
) -> None:
    """State and DNS move and the NAS gets its ack; the last good snapshot stays.

    Home Assistant's storage (orjson) cannot hold such a snapshot, and its JSON
    replies could not carry it either.
    """
    client = nas_client(await hass_client_no_auth())
    good = make_snapshot(version="1.16.0")
    assert (await client.going_offline(good)).ok
    assert (await client.coming_online()).ok
    await hass.async_block_till_done()

    reply = await client.going_offline({**make_snapshot(version="1.17.0"), **change})
    await hass.async_block_till_done()
    assert reply.body == {"acknowledged": True, "dns_switched": True}
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    assert record(pihole) == [f"{PI_IP} baluhost.local"]
    assert "The NAS's snapshot was dropped" in caplog.text

    user = await hass_client()
    got = await user.get("/api/handshake/snapshot")
    assert got.status == 200
    assert await got.json() == without_user_list(good)
    response = await hass.services.async_call(
        DOMAIN, "get_snapshot", {}, blocking=True, return_response=True
    )
    assert response is not None
    assert response["snapshot"]["baluhost_version"] == "1.16.0"
    dropped = loaded_dns_entry.runtime_data.nas.snapshots.dropped
    assert dropped is not None
    assert reason in dropped.reason
    # The drop is stored with the snapshot, so the diagnostics still show it after
    # a restart.
    stored = hass_storage[f"{DOMAIN}.{loaded_dns_entry.entry_id}.snapshot"]["data"]
    assert reason in stored["dropped"]["reason"]


async def test_a_shutdown_push_whose_body_is_no_object_is_acknowledged(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    """A signed list instead of a snapshot: no snapshot, the drop said why."""
    client = await hass_client_no_auth()
    headers, body = _request([1, 2, 3])
    response = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert response.status == 200
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    assert (await (await hass_client()).get("/api/handshake/snapshot")).status == 404
    dropped = loaded_entry.runtime_data.nas.snapshots.dropped
    assert dropped is not None
    assert dropped.reason == "it is not a JSON object"


async def test_a_snapshot_stored_with_user_names_is_served_without_them(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """A snapshot kept by an earlier BaluPi still had users.list: it is not shown."""
    snapshot = make_snapshot(users=3)
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.snapshot"] = {
        "version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}.snapshot",
        "data": {"received_at": "2026-11-27T03:00:00+00:00", "data": snapshot},
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    got = await (await hass_client()).get("/api/handshake/snapshot")
    assert got.status == 200
    assert await got.json() == without_user_list(snapshot)


def _second_entry(nas: BaluHostSimulator, secret: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id="aa:bb:cc:00:11:33",
        data={
            **entry_data(nas),
            "nas_mac": "aa:bb:cc:00:11:33",
            "handshake_secret": secret,
            "webhook_going_offline": "second-going-offline",
            "webhook_coming_online": "second-coming-online",
        },
        minor_version=2,
    )


async def test_two_entries_with_one_secret_accept_a_push_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Entries set up before secrets had to differ: a replay is refused by both."""
    second = _second_entry(nas, SECRET)
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    client = await hass_client_no_auth()
    headers, body = _request(make_snapshot())
    assert (await client.post(OFFLINE_PATH, data=body, headers=headers)).status == 200
    await hass.async_block_till_done()
    states = {loaded_entry.runtime_data.nas.status.state.value}
    states.add(second.runtime_data.nas.status.state.value)
    assert states == {"online", "shutting_down"}, "one NAS moved"

    again = await client.post(OFFLINE_PATH, data=body, headers=headers)
    assert again.status == 401
    assert (await again.json())["error"] == "signature already used"
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.nas.status.state.value != (
        second.runtime_data.nas.status.state.value
    ), "the other NAS did not move"


async def test_replays_stay_refused_across_entries_after_an_upgrade(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Signatures an entry stored on its own before are refused for every entry.

    The per-entry store is merged into the shared one and removed.
    """
    headers, body = _request(None, path=ONLINE_PATH)
    signature = headers["X-Balupi-Signature"]
    legacy = f"{DOMAIN}.{config_entry.entry_id}.accepted_pushes"
    hass_storage[legacy] = {
        "version": 1,
        "key": legacy,
        "data": {signature: int(headers["X-Balupi-Timestamp"])},
    }
    second = _second_entry(nas, SECRET)
    for entry in (config_entry, second):
        entry.add_to_hass(hass)
    # Setting up the integration sets up both entries.
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert second.state is ConfigEntryState.LOADED

    client = await hass_client_no_auth()
    again = await client.post(ONLINE_PATH, data=body, headers=headers)
    assert again.status == 401
    assert (await again.json())["error"] == "signature already used"
    assert legacy not in hass_storage
    assert signature in hass_storage[f"{DOMAIN}.accepted_pushes"]["data"]


async def test_a_push_accepted_before_a_restart_stays_refused(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The shared store of accepted signatures is read at startup."""
    headers, body = _request(None, path=ONLINE_PATH)
    key = f"{DOMAIN}.accepted_pushes"
    hass_storage[key] = {
        "version": 1,
        "key": key,
        "data": {headers["X-Balupi-Signature"]: int(headers["X-Balupi-Timestamp"])},
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client_no_auth()
    again = await client.post(ONLINE_PATH, data=body, headers=headers)
    assert again.status == 401
    assert (await again.json())["error"] == "signature already used"
