"""Plugs in Home Assistant: entities, switching, offline plugs, reauth, counters."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import DOMAIN
from custom_components.balupi.coordinator import tapo_auth_issue_id
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import device_with_mac, tick

POLL = timedelta(seconds=30)


def value(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def next_poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    await tick(hass, freezer, POLL.total_seconds())


async def test_plug_entities_show_what_the_plugs_measure(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    assert float(value(hass, "sensor.nas_plug_power")) == pytest.approx(45.0)
    assert float(value(hass, "sensor.nas_plug_voltage")) == pytest.approx(231.0)
    assert float(value(hass, "sensor.nas_plug_current")) == pytest.approx(
        0.195, abs=0.001
    )
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.32)
    assert float(value(hass, "sensor.nas_plug_energy_this_month")) == pytest.approx(9.1)
    assert value(hass, "switch.nas_plug") == STATE_ON
    assert float(value(hass, "sensor.pi_power")) == pytest.approx(3.2)

    energy = hass.states.get("sensor.nas_plug_energy_today")
    assert energy is not None
    assert energy.attributes["state_class"] == "total_increasing"
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert energy.attributes["device_class"] == "energy"

    device = device_with_mac(device_registry, loaded_plug_entry, "48:22:54:00:00:03")
    assert device is not None
    assert device.manufacturer == "TP-Link"
    assert device.model == "P115"
    assert device.name == "Pi"
    assert device.sw_version == plugs[2].firmware

    rssi = entity_registry.async_get("sensor.pi_signal_strength")
    assert rssi is not None
    assert rssi.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert rssi.unique_id == "48:22:54:00:00:03_signal_strength"


async def test_whole_home_figures(
    hass: HomeAssistant, loaded_plug_entry: MockConfigEntry
) -> None:
    """Total power, cost at 30 ct/kWh, and the NAS's power state from its plug."""
    assert float(value(hass, "sensor.balupi_total_power")) == pytest.approx(52.2)
    cost_today = hass.states.get("sensor.balupi_energy_cost_today")
    assert cost_today is not None
    assert float(cost_today.state) == pytest.approx((0.32 + 0.05 + 0.04) * 0.30)
    assert cost_today.attributes["unit_of_measurement"] == hass.config.currency
    assert cost_today.attributes["device_class"] == "monetary"
    assert float(value(hass, "sensor.balupi_energy_cost_this_month")) == pytest.approx(
        (9.1 + 1.5 + 1.2) * 0.30
    )
    estimate = float(value(hass, "sensor.balupi_energy_cost_month_estimate"))
    assert estimate >= round((9.1 + 1.5 + 1.2) * 0.30, 2)
    # Stored to the cent, so the clock alone does not write a new state each poll.
    assert estimate == round(estimate, 2)
    assert value(hass, "sensor.baluhost_nas_power_state") == "active"


async def test_nas_power_state_follows_its_plug(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    nas = plugs[0]
    for watts, expected in (
        (8.0, "standby"),
        (22.0, "standby"),
        (0.5, "off"),
        (22.0, "off"),
        (38.0, "active"),
    ):
        nas.power_w = watts
        await next_poll(hass, freezer)
        assert value(hass, "sensor.baluhost_nas_power_state") == expected, watts


async def test_switching_a_plug(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    router = plugs[1]
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.router"}, blocking=True
    )
    assert router.is_on is False
    assert value(hass, "switch.router") == STATE_OFF
    assert float(value(hass, "sensor.router_power")) == 0
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.router"}, blocking=True
    )
    assert router.is_on is True
    assert value(hass, "switch.router") == STATE_ON


async def test_switching_an_offline_plug_says_so(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    await plugs[1].set_offline(PlugMode.REFUSED)
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            "switch", "turn_off", {"entity_id": "switch.router"}, blocking=True
        )
    assert raised.value.translation_key == "plug_unreachable"
    assert raised.value.translation_placeholders is not None
    assert raised.value.translation_placeholders["plug"] == "Router"


async def test_offline_plug_is_unavailable_alone_and_logged_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.balupi")
    router, pi = plugs[1], plugs[2]
    await router.set_offline(PlugMode.REFUSED)
    pi.power_w = 5.5
    for _ in range(3):
        await next_poll(hass, freezer)
    assert value(hass, "sensor.router_power") == STATE_UNAVAILABLE
    assert value(hass, "switch.router") == STATE_UNAVAILABLE
    assert float(value(hass, "sensor.pi_power")) == pytest.approx(5.5)
    # The whole-home figures go on with the plugs that answer and the last known
    # energy of the one that does not.
    assert float(value(hass, "sensor.balupi_total_power")) == pytest.approx(
        45.0 + 5.5 + 4.0
    )
    went = [
        r
        for r in caplog.records
        if "Router" in r.getMessage() and "recovered" not in r.getMessage()
    ]
    assert len(went) == 1, [r.getMessage() for r in went]

    await router.set_offline(PlugMode.ONLINE)
    for _ in range(2):
        await next_poll(hass, freezer)
    assert float(value(hass, "sensor.router_power")) == pytest.approx(4.0)
    back = [
        r
        for r in caplog.records
        if "Router" in r.getMessage() and "recovered" in r.getMessage()
    ]
    assert len(back) == 1


async def test_rejected_account_starts_reauth_and_names_the_tapo_switch(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    issue_registry: ir.IssueRegistry,
) -> None:
    nas = plugs[0]
    nas.set_account("user@example.com", "changed-in-the-app")
    nas.expire_sessions()
    for _ in range(2):  # the first failure drops the connection, the reconnect tells
        await next_poll(hass, freezer)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    issue = issue_registry.async_get_issue(
        DOMAIN, tapo_auth_issue_id(loaded_plug_entry)
    )
    assert issue is not None
    assert issue.translation_key == "tapo_auth"
    assert issue.translation_placeholders == {"plug": "NAS plug"}

    # Polling stops until the account is fixed; reauthenticating reloads the entry.
    nas.set_account("user@example.com", "tapo-secret")
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"],
        {"tapo_username": "user@example.com", "tapo_password": "tapo-secret"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["reason"] == "reauth_successful"
    assert (
        issue_registry.async_get_issue(DOMAIN, tapo_auth_issue_id(loaded_plug_entry))
        is None
    )
    assert float(value(hass, "sensor.nas_plug_power")) == pytest.approx(45.0)


async def set_up_at_noon(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    nas_plug: TapoPlugSimulator,
) -> None:
    """Set the entry up at noon UTC, the NAS plug's clock following the frozen one."""
    nas_plug.wall_clock = lambda: dt_util.utcnow().timestamp()
    freezer.move_to("2026-11-26 12:00:00+00:00")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_mid_day_zero_is_held_and_the_plugs_midnight_resets(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    """A plug that comes back with 0 mid-day must not fake a reset in the statistics."""
    nas = plugs[0]
    await set_up_at_noon(hass, freezer, plug_entry, nas)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.32)

    nas.energy_today_wh = 0
    await nas.set_offline(PlugMode.REFUSED)
    await next_poll(hass, freezer)
    await nas.set_offline(PlugMode.ONLINE)
    await next_poll(hass, freezer)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.32)

    nas.energy_today_wh = 500
    await next_poll(hass, freezer)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.5)

    freezer.move_to("2026-11-27 00:00:10+01:00")  # the plug's midnight (Europe/Berlin)
    nas.reset_day()
    await next_poll(hass, freezer)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == 0
    # The month counter did not reset: 1 December is still ahead.
    assert float(value(hass, "sensor.nas_plug_energy_this_month")) == pytest.approx(9.1)


def nas_plug_id(entry: MockConfigEntry) -> str:
    """The config subentry ID of the entry's first plug (the NAS's)."""
    return next(iter(entry.subentries))


async def test_a_restart_keeps_the_counters_a_rebooted_plug_zeroes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    """A power blip restarts Home Assistant and the plug: its first 0 Wh is held."""
    nas = plugs[0]
    await set_up_at_noon(hass, freezer, plug_entry, nas)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.32)

    kept = nas.energy_today_wh, nas.energy_month_wh
    nas.energy_today_wh = nas.energy_month_wh = 0
    assert await hass.config_entries.async_reload(plug_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.32)
    assert float(value(hass, "sensor.nas_plug_energy_this_month")) == pytest.approx(9.1)

    nas.energy_today_wh, nas.energy_month_wh = kept[0] + 10, kept[1] + 10
    await next_poll(hass, freezer)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.33)


async def test_counters_are_saved_within_half_a_minute(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    """Without an orderly stop (power cut), at most half a minute is lost."""
    key = f"{DOMAIN}.{loaded_plug_entry.entry_id}.energy_counters"
    nas = plugs[0]
    await tick(hass, freezer, 31)
    saved = hass_storage[key]["data"][nas_plug_id(loaded_plug_entry)]
    assert saved["today"]["value"] == pytest.approx(0.32)
    assert saved["month"]["value"] == pytest.approx(9.1)

    nas.energy_today_wh = 400
    await next_poll(hass, freezer)
    await tick(hass, freezer, 31)
    saved = hass_storage[key]["data"][nas_plug_id(loaded_plug_entry)]
    assert saved["today"]["value"] == pytest.approx(0.4)

    assert await hass.config_entries.async_remove(loaded_plug_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_counters_saved_before_a_power_cut_hold_a_zero(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    """Home Assistant comes back from a power cut; the plug's counter reads 0."""
    nas = plugs[0]
    nas.energy_today_wh = 0
    hass_storage[f"{DOMAIN}.{plug_entry.entry_id}.energy_counters"] = {
        "version": 1,
        "key": f"{DOMAIN}.{plug_entry.entry_id}.energy_counters",
        "data": {
            nas_plug_id(plug_entry): {
                "today": {"value": 0.31, "period": "2026-11-26"},
                "month": {"value": 9.0, "period": "2026-11"},
            },
            "a removed plug": {"today": {"value": 1.0, "period": "2026-11-26"}},
        },
    }
    await set_up_at_noon(hass, freezer, plug_entry, nas)
    assert float(value(hass, "sensor.nas_plug_energy_today")) == pytest.approx(0.31)
    assert float(value(hass, "sensor.nas_plug_energy_this_month")) == pytest.approx(9.1)


async def test_switching_with_a_rejected_account_asks_for_it(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    router = plugs[1]
    router.set_account("user@example.com", "changed-in-the-app")
    router.expire_sessions()
    with pytest.raises(HomeAssistantError) as error:
        await hass.services.async_call(
            "switch", "turn_off", {"entity_id": "switch.router"}, blocking=True
        )
    assert error.value.translation_key == "tapo_auth"
    assert router.is_on is True
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_a_new_poll_interval_applies_to_every_plug(
    hass: HomeAssistant, loaded_plug_entry: MockConfigEntry
) -> None:
    """Changed in the options, the plugs' interval is what they are polled at."""
    result = await hass.config_entries.options.async_init(loaded_plug_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**loaded_plug_entry.options, "plug_poll_interval": 10}
    )
    await hass.async_block_till_done()
    plugs = loaded_plug_entry.runtime_data.plugs.values()
    assert [plug.update_interval for plug in plugs] == [timedelta(seconds=10)] * 3


async def test_a_removed_whole_home_sensor_stops_following_the_plugs(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The hub sensors subscribe to every plug when added and let go when removed.

    (entity-event-setup: subscribed in async_added_to_hass, undone on removal.)
    """
    plugs = list(loaded_plug_entry.runtime_data.plugs.values())
    before = [len(plug._listeners) for plug in plugs]
    assert value(hass, "sensor.balupi_total_power") != STATE_UNAVAILABLE
    entity_registry.async_remove("sensor.balupi_total_power")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.balupi_total_power") is None
    # One listener fewer on every plug: the removed sensor's.
    assert [len(plug._listeners) for plug in plugs] == [n - 1 for n in before]
    for plug in plugs:
        assert plug.data is not None
        plug.async_set_updated_data(plug.data)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.balupi_total_power") is None

    # Unloaded: no entity of the entry listens to a plug any more.
    assert await hass.config_entries.async_unload(loaded_plug_entry.entry_id)
    assert [len(plug._listeners) for plug in plugs] == [0] * len(plugs)
