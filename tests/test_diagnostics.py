"""Diagnostics: useful for a bug report, and without the handshake secret."""

from __future__ import annotations

from datetime import datetime
import json
import os
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from simulators.baluhost import BaluHostSimulator
from simulators.nas_push import NasPushClient
from simulators.pihole import PiholeSimulator
from simulators.snapshot import make_snapshot
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import (
    PIHOLE_PASSWORD,
    SECRET,
    TAPO_PASSWORD,
    TAPO_USERNAME,
    WEBHOOK_COMING_ONLINE,
    WEBHOOK_GOING_OFFLINE,
)


async def test_diagnostics_redact_the_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)

    assert SECRET not in json.dumps(result)
    assert result["entry"]["data"]["handshake_secret"] == "**REDACTED**"
    assert result["entry"]["data"]["nas_url"] == nas.url
    assert result["entry"]["options"]["heartbeat_interval"] == 30
    heartbeat = result["heartbeat"]
    assert heartbeat["reachable"] is True
    assert heartbeat["error"] is None
    assert heartbeat["health"]["version"] == nas.version


async def test_diagnostics_with_plugs_redact_the_account(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    await plugs[1].set_offline(PlugMode.REFUSED)
    await loaded_plug_entry.runtime_data.plugs[
        next(
            s.subentry_id
            for s in loaded_plug_entry.subentries.values()
            if s.title == "Router"
        )
    ].async_refresh()
    assert await async_setup_component(hass, "diagnostics", {})
    result = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_plug_entry
    )

    text = json.dumps(result)
    for secret in (SECRET, TAPO_PASSWORD, TAPO_USERNAME):
        assert secret not in text
    assert result["entry"]["data"]["tapo_password"] == "**REDACTED**"
    by_title = {plug["title"]: plug for plug in result["plugs"]}
    assert by_title["NAS plug"]["reading"]["power"] == 45.0
    assert by_title["NAS plug"]["last_update_success"] is True
    assert by_title["Router"]["last_update_success"] is False
    assert by_title["Router"]["last_exception"]
    assert result["plugs_rejecting_the_account"] == []


async def test_diagnostics_of_the_handshake_hide_passwords_keys_and_users(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    dns_entry: MockConfigEntry,
) -> None:
    """Webhook paths, DNS and snapshot figures; no Pi-hole password, no user names."""
    assert await async_setup_component(hass, "diagnostics", {})
    dns_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        dns_entry,
        data={
            **dns_entry.data,
            "ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
        },
    )
    assert await hass.config_entries.async_setup(dns_entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client_no_auth()
    snapshot = make_snapshot(users=4, hostname="nas-in-the-cellar")
    reply = await NasPushClient(
        client.session, str(client.make_url("")), SECRET
    ).going_offline(snapshot)
    assert reply.ok
    result = await get_diagnostics_for_config_entry(hass, hass_client, dns_entry)

    text = json.dumps(result)
    for hidden in (
        SECRET,
        PIHOLE_PASSWORD,
        "BEGIN OPENSSH",
        "nas-in-the-cellar",
        *(user["username"] for user in snapshot["users"]["list"]),
        WEBHOOK_GOING_OFFLINE,
        WEBHOOK_COMING_ONLINE,
    ):
        assert hidden not in text
    assert result["entry"]["data"]["webhook_going_offline"] == "**REDACTED**"
    assert result["entry"]["data"]["webhook_coming_online"] == "**REDACTED**"
    assert result["dns"]["pointer"] == "pi"
    assert result["snapshot"]["storage_used"] == snapshot["storage"]["used_bytes"]
    assert result["inbox"] is None


GOLDEN = Path(__file__).parent / "snapshots" / "diagnostics.json"
VOLATILE = {
    "address",
    "checked_at",
    "device_time",
    "http_port",
    "latency",
    "nas_url",
    "pihole_url",
    "received_at",
    "since",
}
"""Keys whose values change from run to run: loopback ports, clocks, timings."""


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: "<varies>" if key in VOLATILE else _stable(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


async def test_diagnostics_match_the_golden_file(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    plug_entry: MockConfigEntry,
    pihole: PiholeSimulator,
) -> None:
    """Entry and device diagnostics of a full entry, compared with the stored file.

    A change of what diagnostics show (or leak) shows up in review as a diff of
    tests/snapshots/diagnostics.json; UPDATE_GOLDEN=1 rewrites it.
    """
    assert await async_setup_component(hass, "diagnostics", {})
    plug_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        plug_entry,
        data={
            **plug_entry.data,
            "pihole_url": pihole.url,
            "pihole_password": PIHOLE_PASSWORD,
        },
    )
    assert await hass.config_entries.async_setup(plug_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    client = await hass_client_no_auth()
    snapshot = make_snapshot(
        users=3, failing_disks=("sdb",), generated_at=datetime(2026, 11, 27, 3, 0)
    )
    assert (
        await NasPushClient(
            client.session, str(client.make_url("")), SECRET
        ).going_offline(snapshot)
    ).ok
    await hass.async_block_till_done(wait_background_tasks=True)

    result: dict[str, Any] = {
        "entry": await get_diagnostics_for_config_entry(hass, hass_client, plug_entry)
    }
    devices = dr.async_get(hass)
    for device in sorted(
        dr.async_entries_for_config_entry(devices, plug_entry.entry_id),
        key=lambda device: device.name or "",
    ):
        result[f"device {device.name}"] = await get_diagnostics_for_device(
            hass, hass_client, plug_entry, device
        )
    text = json.dumps(_stable(result), indent=2, sort_keys=True, ensure_ascii=False)
    for hidden in (
        SECRET,
        PIHOLE_PASSWORD,
        TAPO_PASSWORD,
        TAPO_USERNAME,
        "jürgen",
        WEBHOOK_GOING_OFFLINE,
        WEBHOOK_COMING_ONLINE,
    ):
        assert hidden not in text
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == GOLDEN.read_text(encoding="utf-8")


async def test_diagnostics_say_when_a_snapshot_was_dropped(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
) -> None:
    """When and why, also after a restart; the snapshot figures stay the last good."""
    assert await async_setup_component(hass, "diagnostics", {})
    client = await hass_client_no_auth()
    nas = NasPushClient(client.session, str(client.make_url("")), SECRET)
    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert result["snapshot_dropped"] is None

    assert (await nas.going_offline({"storage": {"used_bytes": 2**64}})).ok
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    dropped = result["snapshot_dropped"]
    assert dropped["reason"] == (
        "Home Assistant cannot store it: Integer exceeds 64-bit range"
    )
    assert datetime.fromisoformat(dropped["at"]).tzinfo is not None
    assert result["snapshot"] is None
