"""The Tapo parts of the flows: account and plugs at setup, adding plugs later, reauth."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import (
    CONF_NAS_PLUG,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    DEFAULT_OPTIONS,
    DOMAIN,
    SUBENTRY_PLUG,
)
from custom_components.balupi.plug_flow import discovery_target
from simulators.baluhost import BaluHostSimulator
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import (
    NAS_MAC,
    PI_IP,
    TAPO_PASSWORD,
    TAPO_USERNAME,
    device_with_mac,
    skip_dns_and_inbox,
)

ACCOUNT = {CONF_TAPO_USERNAME: TAPO_USERNAME, CONF_TAPO_PASSWORD: TAPO_PASSWORD}


@pytest.fixture
def discover_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Search 127.0.0.1 instead of broadcasting to the whole network."""
    monkeypatch.setattr(
        "custom_components.balupi.plug_flow.DISCOVERY_TARGET", "127.0.0.1"
    )


async def to_tapo_step(hass: HomeAssistant, nas: BaluHostSimulator) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"nas_url": nas.url, "nas_mac": NAS_MAC, "pi_ip": PI_IP},
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "tapo"
    return result


async def configure(
    hass: HomeAssistant, result: FlowResult, values: dict[str, Any]
) -> FlowResult:
    return await hass.config_entries.flow.async_configure(result["flow_id"], values)


async def test_setup_with_a_plug_by_address(
    hass: HomeAssistant, nas: BaluHostSimulator, plugs: list[TapoPlugSimulator]
) -> None:
    """The account is checked against the plug; the plug becomes a subentry."""
    nas_plug = plugs[0]
    result = await to_tapo_step(hass, nas)
    result = await configure(
        hass, result, {**ACCOUNT, "plug_host": f"127.0.0.1:{nas_plug.port}"}
    )
    assert result["step_id"] == "plugs"
    assert result["description_placeholders"] == {"count": "1"}
    result = await configure(
        hass,
        result,
        {"plugs": ["48:22:54:00:00:01"], CONF_NAS_PLUG: "48:22:54:00:00:01"},
    )
    result = await skip_dns_and_inbox(hass, result)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.data[CONF_TAPO_USERNAME] == TAPO_USERNAME
    assert entry.data[CONF_TAPO_PASSWORD] == TAPO_PASSWORD
    assert entry.options[CONF_NAS_PLUG] == "48:22:54:00:00:01"
    (subentry,) = entry.subentries.values()
    assert subentry.subentry_type == SUBENTRY_PLUG
    assert subentry.title == "NAS plug"
    assert subentry.unique_id == "48:22:54:00:00:01"
    assert subentry.data["port"] == nas_plug.port
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.nas_plug_power")
    assert state is not None
    assert float(state.state) == pytest.approx(45.0)
    nas_state = hass.states.get("sensor.baluhost_nas_power_state")
    assert nas_state is not None
    assert nas_state.state == "active"


@pytest.mark.usefixtures("discover_on_loopback")
async def test_setup_with_discovered_plugs(
    hass: HomeAssistant, nas: BaluHostSimulator, plugs: list[TapoPlugSimulator]
) -> None:
    """Searching finds the plug and its port; a NAS plug not chosen is dropped."""
    await plugs[1].start_discovery()
    result = await to_tapo_step(hass, nas)
    result = await configure(hass, result, ACCOUNT)
    assert result["step_id"] == "plugs"
    result = await configure(
        hass, result, {"plugs": [], CONF_NAS_PLUG: "48:22:54:00:00:02"}
    )
    result = await skip_dns_and_inbox(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_NAS_PLUG] == ""
    assert not result["result"].subentries


@pytest.mark.usefixtures("discover_on_loopback")
async def test_setup_without_plugs_found_then_by_address(
    hass: HomeAssistant, nas: BaluHostSimulator, plugs: list[TapoPlugSimulator]
) -> None:
    result = await to_tapo_step(hass, nas)
    result = await configure(hass, result, ACCOUNT)
    assert result["errors"] == {"base": "no_plugs_found"}
    schema = result["data_schema"]
    assert schema is not None
    assert CONF_TAPO_PASSWORD not in {
        str(key)
        for key in schema.schema
        if key.description and "suggested_value" in key.description
    }, "the password is not sent back to the browser"
    result = await configure(
        hass, result, {**ACCOUNT, "plug_host": f"127.0.0.1:{plugs[2].port}"}
    )
    assert result["step_id"] == "plugs"


@pytest.mark.parametrize(
    ("password", "host", "mode", "errors"),
    [
        ("wrong", "{port}", PlugMode.ONLINE, {"base": "invalid_auth"}),
        (TAPO_PASSWORD, "{port}", PlugMode.REFUSED, {"plug_host": "cannot_connect"}),
        (
            TAPO_PASSWORD,
            "nas-plug.local",
            PlugMode.ONLINE,
            {"plug_host": "invalid_plug_host"},
        ),
        (
            TAPO_PASSWORD,
            "127.0.0.1:99999",
            PlugMode.ONLINE,
            {"plug_host": "invalid_plug_host"},
        ),
    ],
)
async def test_tapo_step_errors_then_recovery(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    plugs: list[TapoPlugSimulator],
    password: str,
    host: str,
    mode: PlugMode,
    errors: dict[str, str],
) -> None:
    plug = plugs[0]
    address = f"127.0.0.1:{plug.port}"
    await plug.set_offline(mode)
    result = await to_tapo_step(hass, nas)
    result = await configure(
        hass,
        result,
        {
            CONF_TAPO_USERNAME: TAPO_USERNAME,
            CONF_TAPO_PASSWORD: password,
            "plug_host": host.format(port=address),
        },
    )
    assert result["step_id"] == "tapo"
    assert result["errors"] == errors
    await plug.set_offline(PlugMode.ONLINE)
    result = await configure(hass, result, {**ACCOUNT, "plug_host": address})
    assert result["step_id"] == "plugs"


async def test_a_device_that_does_not_measure_energy(
    hass: HomeAssistant, nas: BaluHostSimulator, plugs: list[TapoPlugSimulator]
) -> None:
    plug = plugs[0]
    plug.components = [c for c in plug.components if c[0] != "energy_monitoring"]
    result = await to_tapo_step(hass, nas)
    result = await configure(
        hass, result, {**ACCOUNT, "plug_host": f"127.0.0.1:{plug.port}"}
    )
    assert result["errors"] == {"plug_host": "not_energy_plug"}


async def add_plug_flow(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PLUG), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def test_add_a_plug_later_without_a_restart(
    hass: HomeAssistant,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    """Adding a subentry reloads the entry: the new plug's entities appear at once."""
    router = plugs[1]
    plug_entry.subentries = {
        k: v for k, v in plug_entry.subentries.items() if v.title != "Router"
    }
    plug_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(plug_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.router_power") is None

    result = await add_plug_flow(hass, plug_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"plug_host": f"127.0.0.1:{router.port}"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    state = hass.states.get("sensor.router_power")
    assert state is not None
    assert float(state.state) == pytest.approx(4.0)


async def test_adding_a_plug_that_is_already_there(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    result = await add_plug_flow(hass, loaded_plug_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"plug_host": "127.0.0.1:1"}
    )
    assert result["errors"] == {"plug_host": "cannot_connect"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"plug_host": f"127.0.0.1:{plugs[0].port}"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("discover_on_loopback")
async def test_add_a_plug_found_on_the_network_to_an_entry_without_account(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
) -> None:
    """An entry set up without plugs asks for the account first, then keeps it."""
    await plugs[2].start_discovery()
    result = await add_plug_flow(hass, loaded_entry)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["errors"] == {CONF_TAPO_USERNAME: "account_required"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], ACCOUNT
    )
    assert result["step_id"] == "pick"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"plug": "48:22:54:00:00:03"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.data[CONF_TAPO_USERNAME] == TAPO_USERNAME
    state = hass.states.get("sensor.pi_power")
    assert state is not None
    assert float(state.state) == pytest.approx(3.2)


async def test_removing_a_plug_removes_its_device(
    hass: HomeAssistant, loaded_plug_entry: MockConfigEntry
) -> None:
    registry = dr.async_get(hass)
    assert device_with_mac(registry, loaded_plug_entry, "48:22:54:00:00:02")
    router = next(
        s for s in loaded_plug_entry.subentries.values() if s.title == "Router"
    )
    assert hass.config_entries.async_remove_subentry(
        loaded_plug_entry, router.subentry_id
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert device_with_mac(registry, loaded_plug_entry, "48:22:54:00:00:02") is None
    assert hass.states.get("sensor.router_power") is None
    total = hass.states.get("sensor.balupi_total_power")
    assert total is not None
    assert float(total.state) == pytest.approx(45.0 + 3.2)


@pytest.mark.parametrize(
    ("password", "offline", "error"),
    [("wrong", False, "invalid_auth"), (TAPO_PASSWORD, True, "cannot_connect")],
)
async def test_reauth_checks_the_account_against_the_plugs(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    password: str,
    offline: bool,
    error: str,
) -> None:
    if offline:
        for plug in plugs:
            await plug.set_offline(PlugMode.REFUSED)
    result = await loaded_plug_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await configure(
        hass, result, {CONF_TAPO_USERNAME: TAPO_USERNAME, CONF_TAPO_PASSWORD: password}
    )
    assert result["errors"] == {"base": error}
    for plug in plugs:
        await plug.set_offline(PlugMode.ONLINE)
    result = await configure(hass, result, ACCOUNT)
    assert result["reason"] == "reauth_successful"


async def test_options_choose_the_nas_plug(
    hass: HomeAssistant, loaded_plug_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_plug_entry.entry_id)
    numbers = {k: v for k, v in DEFAULT_OPTIONS.items() if k != CONF_NAS_PLUG}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**numbers, CONF_NAS_PLUG: "48:22:54:00:00:03"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_plug_entry.options[CONF_NAS_PLUG] == "48:22:54:00:00:03"
    state = hass.states.get("sensor.baluhost_nas_power_state")
    assert state is not None
    assert state.state == "standby", "the Pi's plug draws 3.2 W"

    result = await hass.config_entries.options.async_init(loaded_plug_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], numbers
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_plug_entry.options[CONF_NAS_PLUG] == ""
    assert hass.states.get("sensor.baluhost_nas_power_state").state == "unavailable"  # type: ignore[union-attr]


def test_discovery_searches_the_network_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real users' plug search broadcasts; the demo (scripts/develop) stays on loopback."""
    monkeypatch.undo()  # the conftest's loopback target: this test wants the default
    monkeypatch.delenv("BALUPI_DISCOVERY_TARGET", raising=False)
    assert discovery_target() == "255.255.255.255"
    monkeypatch.setenv("BALUPI_DISCOVERY_TARGET", "127.0.0.1")
    assert discovery_target() == "127.0.0.1"
    monkeypatch.setenv("BALUPI_DISCOVERY_TARGET", " ")
    assert discovery_target() == "255.255.255.255"
