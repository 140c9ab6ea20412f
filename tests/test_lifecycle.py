"""The NAS's lifecycle: heartbeat plus plug power, the state machine, Wake-on-LAN."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    CONF_BOOT_TIMEOUT,
    CONF_HEARTBEAT_INTERVAL,
    CONF_NAS_PLUG,
    CONF_PLUG_POLL_INTERVAL,
    CONF_WOL_BROADCAST,
    CONF_WOL_PORT,
    DOMAIN,
)
from custom_components.balupi.lifecycle import (
    EVENT_NAS_STATE_CHANGED,
    boot_timeout_issue_id,
)
from simulators.baluhost import BaluHostSimulator, NasMode
from simulators.nas_push import NasPushClient
from simulators.snapshot import make_snapshot
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import SECRET, read_nas_plug, tick

STATE = "sensor.baluhost_nas_state"
SINCE = "sensor.baluhost_nas_state_since"
POWER_STATE = "sensor.baluhost_nas_power_state"
WAKE = "button.baluhost_nas_wake_up"


def state(hass: HomeAssistant, entity_id: str = STATE) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def fall_asleep(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, nas: BaluHostSimulator
) -> None:
    """The NAS sleeps (standby power, service refusing) and BaluPi sees it offline."""
    await nas.set_mode(NasMode.REFUSED)
    await nas.power(8.0)
    await tick(hass, freezer, 30)
    assert state(hass) == "offline"


@pytest.fixture
async def wol_port(nas: BaluHostSimulator, plugs: list[TapoPlugSimulator]) -> int:
    """The simulated NAS hangs on the first plug and boots on a magic packet."""
    nas.plug = plugs[0]
    nas.mac = "aa:bb:cc:00:11:22"
    nas.boot_time = 20
    return await nas.listen_for_wake_on_lan()


async def set_up(
    hass: HomeAssistant, entry: MockConfigEntry, wol_port: int, **options: Any
) -> MockConfigEntry:
    """Add the plug entry with magic packets going to the simulated NAS."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=entry.data,
        options={
            **entry.options,
            CONF_WOL_BROADCAST: "127.0.0.1",
            CONF_WOL_PORT: wol_port,
            **options,
        },
        subentries_data=[
            {
                "data": s.data,
                "subentry_type": s.subentry_type,
                "title": s.title,
                "unique_id": s.unique_id,
            }
            for s in entry.subentries.values()
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def nas_pushes(hass_client_no_auth: ClientSessionGenerator) -> NasPushClient:
    """A push client that behaves exactly like the BaluHost NAS."""
    client = await hass_client_no_auth()
    return NasPushClient(client.session, str(client.make_url("")).rstrip("/"), SECRET)


async def press_wake(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": WAKE}, blocking=True
    )
    await hass.async_block_till_done()  # the magic packet reaches the NAS


async def test_first_heartbeat_brings_the_nas_online(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    wol_port: int,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    entry = await set_up(hass, plug_entry, wol_port)
    assert state(hass) == "online"
    assert state(hass, POWER_STATE) == "active"
    since = hass.states.get(SINCE)
    assert since is not None
    assert since.attributes["device_class"] == "timestamp"
    assert [e.data for e in events] == [
        {
            "entry_id": entry.entry_id,
            "old_state": "unknown",
            "new_state": "online",
            "reason": "the health endpoint answered",
            "cause": "health_answered",
        }
    ]


async def test_power_off_is_offline_within_one_plug_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
) -> None:
    """The plug notices at once; the heartbeat alone would need 3 polls of 30 s."""
    await set_up(hass, plug_entry, wol_port, **{CONF_HEARTBEAT_INTERVAL: 600})
    await nas.shut_down()
    await tick(hass, freezer, 30)  # one plug poll, no heartbeat
    assert state(hass) == "offline"
    assert state(hass, POWER_STATE) == "off"


async def test_a_sleeping_nas_is_not_polled(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
) -> None:
    entry = await set_up(hass, plug_entry, wol_port)
    await nas.sleep()
    await read_nas_plug(hass, entry)  # before any health check (see there)
    assert state(hass) == "offline"
    assert state(hass, POWER_STATE) == "standby"
    asked = nas.health_requests
    for _ in range(6):
        await tick(hass, freezer, 30)
    assert nas.health_requests == asked, "health checks would wake the NAS"
    assert state(hass, "binary_sensor.baluhost_nas_reachable") == "off"


async def test_three_failed_heartbeats_without_a_plug(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
) -> None:
    """Flapping never beats the threshold: only three failures in a row count."""
    assert state(hass) == "online"
    for mode in (NasMode.REFUSED, NasMode.REFUSED, NasMode.UP) * 2:
        await nas.set_mode(mode)
        await tick(hass, freezer, 30)
        assert state(hass) == "online", mode
    await nas.set_mode(NasMode.REFUSED)
    for expected in ("online", "online", "offline"):
        await tick(hass, freezer, 30)
        assert state(hass) == expected
    await nas.set_mode(NasMode.UP)
    await tick(hass, freezer, 30)
    assert state(hass) == "online"


async def test_wake_on_lan_boots_the_nas(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.balupi")
    entry = await set_up(hass, plug_entry, wol_port)
    await fall_asleep(hass, freezer, nas)

    await press_wake(hass)
    assert nas.wol_packets == 1, "the magic packet reached the NAS"
    assert state(hass) == "booting"
    heartbeat = entry.runtime_data.nas
    assert heartbeat.update_interval == timedelta(seconds=5)
    assert "Wake-on-LAN sent to aa:bb:cc:00:11:22 via 127.0.0.1" in caplog.text

    # The NAS needs 20 s; BaluPi asks every 5 s meanwhile.
    for _ in range(4):
        await tick(hass, freezer, 5)
        assert state(hass) == "booting"
    while nas.up_at is None:  # set once the NAS really listens again
        await tick(hass, freezer, 1)
    # From the NAS answering to "online": one fast heartbeat at most.
    await tick(hass, freezer, 5)
    assert state(hass) == "online"
    assert heartbeat.update_interval == timedelta(seconds=30)


async def test_wake_refusals_say_why(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
) -> None:
    async def refusal() -> str | None:
        with pytest.raises(ServiceValidationError) as raised:
            await press_wake(hass)
        return raised.value.translation_key

    await set_up(hass, plug_entry, wol_port)
    assert await refusal() == "wake_already_online"

    await fall_asleep(hass, freezer, nas)
    await nas.power(45.0)  # the service crashed, the hardware runs
    await tick(hass, freezer, 30)
    assert state(hass) == "offline"
    assert await refusal() == "wake_already_running"

    await nas.power(0.4)
    await tick(hass, freezer, 30)
    assert await refusal() == "wake_no_power"

    await nas.power(8.0)
    await tick(hass, freezer, 30)
    await press_wake(hass)
    assert await refusal() == "wake_already_booting"
    assert nas.wol_packets == 1


async def test_boot_timeout_reports_what_to_check(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await set_up(hass, plug_entry, wol_port, **{CONF_BOOT_TIMEOUT: 30})
    nas.boot_time = 3600  # it never comes up
    await fall_asleep(hass, freezer, nas)
    await press_wake(hass)
    for _ in range(6):
        await tick(hass, freezer, 5)
        assert state(hass) == "booting"
    await tick(hass, freezer, 5)
    assert state(hass) == "offline"
    issue = issue_registry.async_get_issue(DOMAIN, boot_timeout_issue_id(entry))
    assert issue is not None
    assert issue.translation_key == "boot_timeout"

    # Powered on by hand: the plug reads full power first, so the next heartbeat
    # asks the NAS again (while it read standby, the NAS was left alone).
    await nas.run()
    for _ in range(2):
        await tick(hass, freezer, 30)
    assert state(hass) == "online"
    assert issue_registry.async_get_issue(DOMAIN, boot_timeout_issue_id(entry)) is None


async def test_state_survives_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
) -> None:
    """Booting resumes where it was, with fast polling, after a reload."""
    entry = await set_up(hass, plug_entry, wol_port)
    await fall_asleep(hass, freezer, nas)
    await press_wake(hass)
    since = state(hass, SINCE)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert state(hass) == "booting"
    assert state(hass, SINCE) == since
    assert entry.runtime_data.nas.update_interval == timedelta(seconds=5)


async def test_a_restart_does_not_wake_a_sleeping_nas(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
) -> None:
    """Home Assistant restarts while the NAS sleeps: no health check wakes it."""
    entry = await set_up(hass, plug_entry, wol_port)
    await nas.sleep()
    await read_nas_plug(hass, entry)
    assert state(hass) == "offline"
    key = f"{DOMAIN}.{entry.entry_id}.nas_state"
    assert hass_storage[key]["data"]["state"] == "offline"
    asked = nas.health_requests

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(3):
        await tick(hass, freezer, 30)
    assert state(hass) == "offline"
    assert state(hass, POWER_STATE) == "standby"
    assert nas.health_requests == asked, "a health check would wake the NAS"

    # Without a NAS plug, the stored power means nothing: the NAS is asked.
    await nas.run()
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_NAS_PLUG: ""}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert nas.health_requests == asked + 1
    assert state(hass) == "online"


async def test_no_nas_plug_no_power_state(
    hass: HomeAssistant, plug_entry: MockConfigEntry, wol_port: int
) -> None:
    await set_up(hass, plug_entry, wol_port, **{CONF_NAS_PLUG: ""})
    assert hass.states.get(POWER_STATE) is None
    assert state(hass) == "online"


async def test_wake_while_the_state_is_still_unknown(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: BaluHostSimulator,
) -> None:
    """No plug, no answer yet: BaluPi does not know enough to send a packet."""
    await nas.set_mode(NasMode.REFUSED)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass) == "unknown"
    with pytest.raises(ServiceValidationError) as raised:
        await press_wake(hass)
    assert raised.value.translation_key == "wake_state_unknown"
    assert raised.value.translation_placeholders == {"state": "unknown"}


async def test_removing_the_entry_forgets_the_stored_state(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    loaded_entry: MockConfigEntry,
) -> None:
    key = f"{DOMAIN}.{loaded_entry.entry_id}.nas_state"
    assert hass_storage[key]["data"]["state"] == "online"
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_a_startup_push_outranks_the_plug_reading_before_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Switched on at its button, the NAS boots at standby power and then pushes.

    The plug's last reading (standby, taken while it booted) must not make the
    next heartbeat call it asleep and spare it the health check: the heartbeat reads
    the plug again (full power now) before it decides.
    """
    await set_up(hass, plug_entry, wol_port, **{CONF_PLUG_POLL_INTERVAL: 120})
    await nas.set_mode(NasMode.REFUSED)  # booting at standby power
    await nas.power(8.0)
    await tick(hass, freezer, 30)  # a heartbeat reads the plug: standby
    assert state(hass) == "offline"
    await nas.run()
    asked = nas.health_requests
    await (await nas_pushes(hass_client_no_auth)).coming_online()
    await hass.async_block_till_done()
    assert state(hass) == "online"

    await tick(hass, freezer, 30)  # a heartbeat, before the plug's own next poll
    assert nas.health_requests == asked + 1
    assert state(hass) == "online"
    assert state(hass, "binary_sensor.baluhost_nas_reachable") == "on"
    assert state(hass, POWER_STATE) == "active"


async def test_an_unreachable_plug_keeps_no_say_after_a_push(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    nas: BaluHostSimulator,
    wol_port: int,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The NAS plug left the Wi-Fi while the NAS was off; the NAS comes back.

    Its last reading ("no power") is older than the startup push: neither the
    failed plug polls nor the heartbeats may take the NAS offline on it. While the
    plug stays away nothing is asked (the NAS may fall asleep any time), so after
    the push's news BaluPi says it does not know, until the plug is back.
    """
    await set_up(hass, plug_entry, wol_port)
    await nas.set_mode(NasMode.REFUSED)  # off (refused: a silent one needs real time)
    await nas.power(0.3)
    await tick(hass, freezer, 30)
    assert state(hass) == "offline"
    asked = nas.health_requests
    await plugs[0].set_offline(PlugMode.REFUSED)
    for _ in range(4):
        await tick(hass, freezer, 30)
        assert state(hass) == "unknown"
        assert state(hass, POWER_STATE) == "unavailable"
    assert nas.health_requests == asked
    await nas.run()
    await (await nas_pushes(hass_client_no_auth)).coming_online()
    await hass.async_block_till_done()
    assert state(hass) == "online"
    assert state(hass, "binary_sensor.baluhost_nas_reachable") == "on"

    for _ in range(4):
        await tick(hass, freezer, 30)
        current = hass.states.get(STATE)
        assert current is not None
        assert current.state == "unknown"
        assert current.attributes["last_known_state"] == "online"
        assert state(hass, "binary_sensor.baluhost_nas_reachable") == "unknown"
    assert nas.health_requests == asked, "nothing is asked while the plug is away"
    assert state(hass, "sensor.nas_plug_power") == "unavailable"

    await plugs[0].set_offline(PlugMode.ONLINE)
    await tick(hass, freezer, 30)
    assert state(hass) == "online"
    assert state(hass, POWER_STATE) == "active"
    assert nas.health_requests == asked + 1


async def test_wake_up_after_a_shutdown_push_is_not_refused(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    wol_port: int,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The full-power reading from before the shutdown push says nothing any more.

    No plug reading after the push: *shutting down* ends at its bound (120 s).
    """
    await set_up(
        hass,
        plug_entry,
        wol_port,
        **{CONF_PLUG_POLL_INTERVAL: 600, CONF_HEARTBEAT_INTERVAL: 600},
    )
    await (await nas_pushes(hass_client_no_auth)).going_offline(make_snapshot())
    await hass.async_block_till_done()
    assert state(hass) == "shutting_down"
    assert state(hass, POWER_STATE) == "active"  # the plug has not been read since
    await nas.shut_down()
    await tick(hass, freezer, 119)
    assert state(hass) == "shutting_down"
    await tick(hass, freezer, 1)
    assert state(hass) == "offline"
    await press_wake(hass)
    assert nas.wol_packets == 1
    assert state(hass) == "booting"
