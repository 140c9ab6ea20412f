"""Plugs as they really are: they change address, and old firmware measures less.

The simulated plugs move between loopback addresses while Home Assistant runs, as a
plug does when its DHCP lease gives it another address; BaluPi finds it again by its
MAC (its own search, Home Assistant's dhcp discovery, or the user's reconfigure).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from homeassistant.config_entries import SOURCE_DHCP, SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.loader import async_get_integration
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi import coordinator as coordinator_module
from custom_components.balupi.const import (
    CONF_HOST,
    CONF_MEASURES,
    CONF_PORT,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    DOMAIN,
    SUBENTRY_PLUG,
)
from custom_components.balupi.plug_flow import plug_host_text
from custom_components.balupi.plugs import find_addresses
from simulators.baluhost import BaluHostSimulator
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import account_entry, answer_discovery, device_with_mac

POLL = 30.0
"""Seconds between two polls of a plug (the default)."""


@pytest.fixture(autouse=True)
def real_plug_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """BaluPi searches the network (loopback here) for moved plugs, for real."""
    monkeypatch.setattr(coordinator_module, "find_addresses", find_addresses)


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


def entry_with(
    nas: BaluHostSimulator, *plugs: TapoPlugSimulator, measures: bool = True
) -> MockConfigEntry:
    return account_entry(nas, plugs, measures=measures)


async def load(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


def plug_entities(
    entity_registry: er.EntityRegistry, entry: MockConfigEntry, mac: str
) -> dict[str, tuple[str, str | None]]:
    """The plug's entities: unique ID -> (entity ID, device ID)."""
    return {
        entity.unique_id: (entity.entity_id, entity.device_id)
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if entity.unique_id.startswith(mac)
    }


class Clock:
    """The plug search's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def poll(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock | None = None
) -> None:
    """Let a poll interval pass: every plug is read once, and what follows runs."""
    if clock is not None:
        clock.now += POLL
    for plug in entry.runtime_data.plugs.values():
        await plug.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)


def the_subentry(entry: MockConfigEntry) -> Any:
    (subentry,) = entry.subentries.values()
    return subentry


@pytest.fixture
async def moving_plug(loopback_hosts: None) -> AsyncIterator[TapoPlugSimulator]:
    """A P110 at 127.0.0.21 that answers discovery."""
    plug = TapoPlugSimulator(
        host="127.0.0.21", alias="Moving plug", mac="48:22:54:00:00:21", power_w=12.0
    )
    await plug.start()
    await answer_discovery(plug)
    yield plug
    await plug.stop()


async def test_a_plug_that_moved_is_found_again_by_its_mac(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    moving_plug: TapoPlugSimulator,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DHCP gave the plug another address: unavailable, then back by itself.

    Same entities (IDs by MAC), same device, the new address in the subentry; no user
    action. The search asks the plug's new address here; on a real network it is the
    broadcast address, which every plug hears.
    """
    searches: list[str] = []

    async def counted_find(**kwargs: Any) -> Any:
        searches.append(kwargs["target"])
        return await find_addresses(**kwargs)

    monkeypatch.setattr(coordinator_module, "find_addresses", counted_find)
    monkeypatch.setattr(coordinator_module, "DISCOVERY_TARGET", "127.0.0.22")
    entry = await load(hass, entry_with(nas, moving_plug))
    running = entry.runtime_data
    assert running.search is not None
    clock = running.search.clock = Clock()
    mac = "48:22:54:00:00:21"
    assert float(state(hass, "sensor.moving_plug_power")) == pytest.approx(12.0)
    entities = plug_entities(entity_registry, entry, mac)
    assert len(entities) == 7  # switch and six sensors
    device = device_with_mac(device_registry, entry, mac)
    assert device is not None

    await moving_plug.move_to("127.0.0.22")
    await poll(hass, entry, clock)
    assert state(hass, "sensor.moving_plug_power") == STATE_UNAVAILABLE
    assert state(hass, "switch.moving_plug") == STATE_UNAVAILABLE
    assert searches == [], "a plug away for a moment is not searched for"
    assert the_subentry(entry).data[CONF_HOST] == "127.0.0.21"

    moving_plug.power_w = 13.0
    for _ in range(4):  # two minutes after its first missed poll: one search
        await poll(hass, entry, clock)
    assert searches == ["127.0.0.22"]
    assert the_subentry(entry).data[CONF_HOST] == "127.0.0.22"
    assert float(state(hass, "sensor.moving_plug_power")) == pytest.approx(13.0)
    assert state(hass, "switch.moving_plug") == "on"
    assert plug_entities(entity_registry, entry, mac) == entities
    assert device_with_mac(device_registry, entry, mac) == device
    assert entry.runtime_data is running, "followed without a reload"

    # Gone for good: the search is repeated at a bounded rate, not at every poll.
    await moving_plug.stop()
    for _ in range(60):  # half an hour of polls
        await poll(hass, entry, clock)
    assert state(hass, "sensor.moving_plug_power") == STATE_UNAVAILABLE
    assert 2 <= len(searches) <= 3, searches


async def test_another_device_at_the_old_address_is_not_read_as_the_plug(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    moving_plug: TapoPlugSimulator,
) -> None:
    """DHCP gave the plug's old address to another plug of the same account."""
    entry = await load(hass, entry_with(nas, moving_plug))
    old = (moving_plug.host, moving_plug.port)
    other = TapoPlugSimulator(
        host=old[0], port=old[1], alias="Other", mac="48:22:54:00:00:99", power_w=99.0
    )
    await moving_plug.move_to("127.0.0.23")
    await other.start()
    try:
        await poll(hass, entry)
        assert state(hass, "sensor.moving_plug_power") == STATE_UNAVAILABLE
        assert other.requests, "the other plug answered, and was not believed"
        assert state(hass, "switch.moving_plug") == STATE_UNAVAILABLE
    finally:
        await other.stop()


async def test_dhcp_discovery_updates_the_plug_address(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    moving_plug: TapoPlugSimulator,
    entity_registry: er.EntityRegistry,
) -> None:
    """Home Assistant's dhcp watcher saw the plug's MAC at a new address."""
    entry = await load(hass, entry_with(nas, moving_plug))
    entities = plug_entities(entity_registry, entry, "48:22:54:00:00:21")
    await moving_plug.move_to("127.0.0.24")
    await poll(hass, entry)
    assert state(hass, "sensor.moving_plug_power") == STATE_UNAVAILABLE

    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_DHCP},
        data=DhcpServiceInfo(
            ip="127.0.0.24", hostname="p110", macaddress="482254000021"
        ),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plug_known"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert the_subentry(entry).data[CONF_HOST] == "127.0.0.24"
    assert float(state(hass, "sensor.moving_plug_power")) == pytest.approx(12.0)
    assert plug_entities(entity_registry, entry, "48:22:54:00:00:21") == entities

    # Seen again at the same address: nothing changes.
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_DHCP},
        data=DhcpServiceInfo(
            ip="127.0.0.24", hostname="p110", macaddress="482254000021"
        ),
    )
    assert result["reason"] == "plug_known"

    # Another TP-Link device: not BaluPi's business.
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_DHCP},
        data=DhcpServiceInfo(
            ip="127.0.0.25", hostname="p110", macaddress="482254000077"
        ),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_balupi_plug"
    assert not hass.config_entries.flow.async_progress()


async def test_dhcp_matchers_of_the_manifest(hass: HomeAssistant) -> None:
    """BaluPi hears of its own plugs' devices, and of TP-Link's P1xx by prefix."""
    integration = await async_get_integration(hass, DOMAIN)
    matchers = integration.dhcp or []
    assert {"registered_devices": True} in matchers
    assert {"hostname": "p1*", "macaddress": "482254*"} in matchers
    for matcher in matchers[1:]:
        assert matcher["hostname"] == "p1*"
        assert len(matcher["macaddress"]) == 7
        assert matcher["macaddress"].endswith("*")


async def test_a_plug_is_reconfigured_by_hand(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    moving_plug: TapoPlugSimulator,
    entity_registry: er.EntityRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The subentry's reconfigure: checked to be the same plug, by its MAC."""
    entry = await load(hass, entry_with(nas, moving_plug))
    subentry = the_subentry(entry)
    entities = plug_entities(entity_registry, entry, "48:22:54:00:00:21")
    assert entry.supported_subentry_types[SUBENTRY_PLUG]["supports_reconfigure"]
    other = TapoPlugSimulator(host="127.0.0.26", alias="Other", mac="48:22:54:00:00:98")
    await other.start()
    await moving_plug.move_to("127.0.0.27")
    try:
        await poll(hass, entry)
        assert state(hass, "sensor.moving_plug_power") == STATE_UNAVAILABLE

        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_PLUG),
            context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "reconfigure"
        assert result["description_placeholders"] == {
            "plug": "Moving plug",
            "mac": "48:22:54:00:00:21",
        }
        schema = result["data_schema"]
        assert schema is not None
        (field,) = schema.schema
        assert field.description == {"suggested_value": "127.0.0.21"}

        flow_id = result["flow_id"]
        configure = hass.config_entries.subentries.async_configure
        result = await configure(flow_id, {"plug_host": f"127.0.0.26:{other.port}"})
        assert result["errors"] == {"plug_host": "wrong_plug"}
        result = await configure(flow_id, {"plug_host": "not an address"})
        assert result["errors"] == {"plug_host": "invalid_plug_host"}
        # Empty: search the network for this plug (here: where it is not).
        result = await configure(flow_id, {})
        assert result["errors"] == {"base": "plug_not_found"}
        monkeypatch.setattr(
            "custom_components.balupi.plug_flow.DISCOVERY_TARGET", "127.0.0.26"
        )
        await answer_discovery(other)
        result = await configure(flow_id, {})
        assert result["errors"] == {"base": "plug_not_found"}, "only another plug"

        result = await configure(
            flow_id, {"plug_host": f"127.0.0.27:{moving_plug.port}"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
        subentry = the_subentry(entry)
        assert subentry.data[CONF_HOST] == "127.0.0.27"
        assert subentry.data[CONF_PORT] == moving_plug.port
        assert subentry.title == "Moving plug"
        assert float(state(hass, "sensor.moving_plug_power")) == pytest.approx(12.0)
        assert plug_entities(entity_registry, entry, "48:22:54:00:00:21") == entities

        # And back to a plain address found by searching: the port given by hand goes.
        await moving_plug.move_to("127.0.0.28")  # and answers discovery there
        monkeypatch.setattr(
            "custom_components.balupi.plug_flow.DISCOVERY_TARGET", "127.0.0.28"
        )
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_PLUG),
            context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
        )
        (field,) = result["data_schema"].schema
        assert field.description == {
            "suggested_value": f"127.0.0.27:{moving_plug.port}"
        }
        result = await configure(result["flow_id"], {})
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
        subentry = the_subentry(entry)
        assert subentry.data[CONF_HOST] == "127.0.0.28"
        assert CONF_PORT not in subentry.data
        assert float(state(hass, "sensor.moving_plug_power")) == pytest.approx(12.0)
    finally:
        await other.stop()


@pytest.fixture
async def first_firmware_plug(
    socket_enabled: None,
) -> AsyncIterator[TapoPlugSimulator]:
    """A P110 on its 2021 firmware: energy monitoring version 1."""
    plug = TapoPlugSimulator(
        alias="Old plug",
        mac="48:22:54:00:00:10",
        power_w=20.0,
        energy_today_wh=150,
        energy_monitoring=1,
    )
    await plug.start()
    yield plug
    await plug.stop()


async def test_a_first_firmware_plug_gets_no_voltage_or_current(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    plugs: list[TapoPlugSimulator],
    first_firmware_plug: TapoPlugSimulator,
    entity_registry: er.EntityRegistry,
) -> None:
    """Added through the flow: only what the plug measures becomes an entity."""
    entry = await load(hass, entry_with(nas, plugs[0]))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PLUG), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"plug_host": f"127.0.0.1:{first_firmware_plug.port}"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_MEASURES] == [
        "energy_month", "energy_today", "power", "rssi"
    ]  # fmt: skip
    await hass.async_block_till_done(wait_background_tasks=True)

    assert float(state(hass, "sensor.old_plug_power")) == pytest.approx(20.0)
    assert float(state(hass, "sensor.old_plug_energy_today")) == pytest.approx(0.15)
    assert entity_registry.async_get("sensor.old_plug_signal_strength") is not None
    assert entity_registry.async_get("sensor.old_plug_voltage") is None
    assert entity_registry.async_get("sensor.old_plug_current") is None
    # A current plug beside it has both.
    assert float(state(hass, "sensor.nas_plug_voltage")) == pytest.approx(231.0)
    assert state(hass, "sensor.nas_plug_current") != STATE_UNAVAILABLE

    # A firmware update (the plug restarts) brings energy monitoring version 2.
    first_firmware_plug.energy_monitoring = 2
    first_firmware_plug.firmware = "1.3.0 Build 230905 Rel.152200"
    await first_firmware_plug.set_offline(PlugMode.REFUSED)
    await poll(hass, entry)
    await first_firmware_plug.set_offline(PlugMode.ONLINE)
    await poll(hass, entry)
    assert float(state(hass, "sensor.old_plug_voltage")) == pytest.approx(230.0)
    assert float(state(hass, "sensor.old_plug_current")) == pytest.approx(
        20 / 230, 0.01
    )


async def test_sensors_a_plug_does_not_measure_go_away_after_its_first_read(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    plugs: list[TapoPlugSimulator],
    first_firmware_plug: TapoPlugSimulator,
    entity_registry: er.EntityRegistry,
) -> None:
    """Plugs stored by BaluPi 0.1 (without what they measure) got every sensor.

    Read once, a first-firmware plug loses Voltage and Current, which stayed unknown
    forever; its other entities and a current plug's stay as they were.
    """
    entry = await load(
        hass, entry_with(nas, plugs[0], first_firmware_plug, measures=False)
    )

    assert entity_registry.async_get("sensor.old_plug_voltage") is None
    assert entity_registry.async_get("sensor.old_plug_current") is None
    assert float(state(hass, "sensor.old_plug_power")) == pytest.approx(20.0)
    assert float(state(hass, "sensor.nas_plug_voltage")) == pytest.approx(231.0)
    measures = {
        subentry.title: subentry.data[CONF_MEASURES]
        for subentry in entry.subentries.values()
    }
    assert measures == {
        "Old plug": ["energy_month", "energy_today", "power", "rssi"],
        "NAS plug": [
            "current", "energy_month", "energy_today", "power", "rssi", "voltage"
        ],
    }  # fmt: skip


async def test_a_failed_search_changes_nothing(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    moving_plug: TapoPlugSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The network cannot be asked (no interface, say): the plug just stays away."""
    searches = 0

    async def failing_find(**kwargs: Any) -> Any:
        nonlocal searches
        searches += 1
        raise OSError("Network is unreachable")

    monkeypatch.setattr(coordinator_module, "find_addresses", failing_find)
    entry = await load(hass, entry_with(nas, moving_plug))
    assert entry.runtime_data.search is not None
    clock = entry.runtime_data.search.clock = Clock()
    await moving_plug.move_to("127.0.0.29")
    for _ in range(6):
        await poll(hass, entry, clock)
    assert searches == 1
    assert the_subentry(entry).data[CONF_HOST] == "127.0.0.21"
    assert state(hass, "sensor.moving_plug_power") == STATE_UNAVAILABLE


async def test_reconfiguring_a_plug_needs_the_tapo_account(
    hass: HomeAssistant, nas: BaluHostSimulator, moving_plug: TapoPlugSimulator
) -> None:
    """An entry whose Tapo account was removed cannot check a plug: it says so."""
    entry = entry_with(nas, moving_plug)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry,
        data={
            k: v
            for k, v in entry.data.items()
            if k not in (CONF_TAPO_USERNAME, CONF_TAPO_PASSWORD)
        },
    )
    subentry = the_subentry(entry)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PLUG),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"plug_host": "127.0.0.21"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_required"
    assert the_subentry(entry).data == subentry.data


def test_an_ipv6_plug_address_is_shown_as_the_user_types_it() -> None:
    assert plug_host_text({CONF_HOST: "fd00::21", CONF_PORT: 8080}) == "[fd00::21]:8080"
    assert plug_host_text({CONF_HOST: "fd00::21"}) == "[fd00::21]"
    assert plug_host_text({CONF_HOST: "127.0.0.21"}) == "127.0.0.21"
