"""Every change to an entry reloads it exactly once, with the new settings.

Home Assistant (2026.11, breaking in 2026.12) logs a flow that reloads an entry which
has an update listener itself ("has an update listener and should use it for scheduling
a reload"): the entry would reload twice. BaluPi's entry has a listener (for options and
plugs), so its flows store their changes and leave the reload to that listener; they
reload the entry themselves only where the listener will not (the entry is not loaded,
or nothing changed).
"""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Any

from homeassistant.config_entries import (
    SOURCE_ZEROCONF,
    ConfigEntries,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components import balupi
from custom_components.balupi import net
from custom_components.balupi.const import (
    CONF_HEARTBEAT_INTERVAL,
    CONF_NAS_HOSTNAME,
    CONF_NAS_IP,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from simulators.baluhost import BaluHostSimulator
from simulators.tapo import TapoPlugSimulator

from .conftest import (
    NAS_MAC,
    TAPO_PASSWORD,
    TAPO_USERNAME,
    plug_subentry,
    skip_dns_and_inbox,
)

DEPRECATION = "should use it for scheduling a reload"


class Setups:
    """Counts the entry's setups, and the reloads Home Assistant was asked for."""

    def __init__(self) -> None:
        self.setups = 0
        self.reloads = 0


@pytest.fixture
def setups(monkeypatch: pytest.MonkeyPatch) -> Setups:
    counted = Setups()
    setup_entry = balupi.async_setup_entry

    async def counting_setup(hass: HomeAssistant, entry: Any) -> bool:
        counted.setups += 1
        return await setup_entry(hass, entry)

    schedule_reload = ConfigEntries.async_schedule_reload

    def counting_reload(self: ConfigEntries, entry_id: str) -> None:
        counted.reloads += 1
        schedule_reload(self, entry_id)

    monkeypatch.setattr(balupi, "async_setup_entry", counting_setup)
    monkeypatch.setattr(ConfigEntries, "async_schedule_reload", counting_reload)
    return counted


async def done(hass: HomeAssistant, caplog: pytest.LogCaptureFixture) -> None:
    """Let the reloads run; Home Assistant logged no deprecation of them.

    (tests/conftest.py fails any flow that reloads an entry with a listener.)
    """
    await hass.async_block_till_done(wait_background_tasks=True)
    assert DEPRECATION not in caplog.text


async def test_reconfigure_reloads_once_through_the_listener(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    nas: BaluHostSimulator,
    config_entry: MockConfigEntry,
    setups: Setups,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert setups.setups == 1

    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"nas_url": nas.url, "pi_ip": "192.168.178.30"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await skip_dns_and_inbox(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await done(hass, caplog)

    assert setups.setups == 2
    assert setups.reloads == 1
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data.connection.pi_ip == "192.168.178.30"


async def test_reconfigure_without_a_change_still_reloads_once(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    nas: BaluHostSimulator,
    config_entry: MockConfigEntry,
    setups: Setups,
) -> None:
    """Nothing changed, so the listener stays quiet; the flow reloads the entry."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"nas_url": nas.url, "pi_ip": config_entry.data["pi_ip"]},
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await skip_dns_and_inbox(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await done(hass, caplog)

    assert setups.setups == 2
    assert setups.reloads == 1
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_of_an_entry_that_failed_to_set_up_reloads_it(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    nas: BaluHostSimulator,
    config_entry: MockConfigEntry,
    setups: Setups,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed setup registered no listener: the flow itself reloads the entry."""
    counting_setup = balupi.async_setup_entry

    async def not_ready_once(hass: HomeAssistant, entry: Any) -> bool:
        monkeypatch.setattr(balupi, "async_setup_entry", counting_setup)
        raise ConfigEntryNotReady("held back by the test")

    monkeypatch.setattr(balupi, "async_setup_entry", not_ready_once)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not config_entry.update_listeners

    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"nas_url": nas.url, "pi_ip": "192.168.178.31"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await skip_dns_and_inbox(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await done(hass, caplog)

    assert setups.setups == 1
    assert setups.reloads == 1
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data.connection.pi_ip == "192.168.178.31"


@pytest.mark.parametrize(
    "password", [TAPO_PASSWORD + "-new", TAPO_PASSWORD], ids=["changed", "same"]
)
async def test_reauth_reloads_once_with_the_account(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    setups: Setups,
    password: str,
) -> None:
    """A new password reloads through the listener; the same one (it works again,
    the plugs wait for a reload to be polled) through the flow. Once, either way."""
    plug_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(plug_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    for plug in plugs:
        plug.set_account(TAPO_USERNAME, password)

    result = await plug_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_TAPO_USERNAME: TAPO_USERNAME, CONF_TAPO_PASSWORD: password},
    )
    assert result["reason"] == "reauth_successful"
    await done(hass, caplog)

    assert setups.setups == 2
    assert setups.reloads == 1
    assert plug_entry.state is ConfigEntryState.LOADED
    assert plug_entry.runtime_data.connection.tapo_password == password


async def test_a_nas_that_moved_reloads_once(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    nas: BaluHostSimulator,
    config_entry: MockConfigEntry,
    setups: Setups,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The Pi's neighbour table knows the announced address by the entry's MAC.
    table = tmp_path / "arp"
    table.write_text(
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        f"{nas.host:<16} 0x1         0x2         {NAS_MAC}     *        eth0\n"
    )
    monkeypatch.setattr(net, "ARP_TABLE", table)
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        data={
            **config_entry.data,
            CONF_NAS_HOSTNAME: "cellar",
            CONF_NAS_IP: "10.0.0.9",
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=ZeroconfServiceInfo(
            ip_address=ip_address(nas.host),
            ip_addresses=[ip_address(nas.host)],
            port=nas.port,
            hostname="cellar.local.",
            type="_baluhost._tcp.local.",
            name="BaluHost on cellar._baluhost._tcp.local.",
            properties={"hostname": "cellar", "api": nas.url},
        ),
    )
    assert result["reason"] == "already_configured"
    await done(hass, caplog)

    assert setups.setups == 2
    assert setups.reloads == 1
    assert config_entry.runtime_data.connection.nas_ip == nas.host


async def test_options_reload_once(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    loaded_entry: MockConfigEntry,
    setups: Setups,
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **{k: v for k, v in DEFAULT_OPTIONS.items() if k != "nas_plug"},
            CONF_HEARTBEAT_INTERVAL: 45,
        },
    )
    await done(hass, caplog)

    assert setups.setups == 1
    assert loaded_entry.runtime_data.options.heartbeat_interval == 45


async def test_changes_stored_while_the_entry_reloads_are_applied_too(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    loaded_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    setups: Setups,
) -> None:
    """The account starts a reload at once; the plug and the option stored right after
    it reach the setup too late and are applied by one more reload, not lost."""
    entries = hass.config_entries
    entries.async_update_entry(
        loaded_entry,
        data={
            **loaded_entry.data,
            CONF_TAPO_USERNAME: TAPO_USERNAME,
            CONF_TAPO_PASSWORD: TAPO_PASSWORD,
        },
    )
    entries.async_add_subentry(loaded_entry, ConfigSubentry(**plug_subentry(plugs[1])))
    entries.async_update_entry(
        loaded_entry, options={**loaded_entry.options, CONF_HEARTBEAT_INTERVAL: 50}
    )
    await done(hass, caplog)

    assert setups.setups == 2
    assert loaded_entry.state is ConfigEntryState.LOADED
    running = loaded_entry.runtime_data
    assert running.connection.tapo_username == TAPO_USERNAME
    assert running.options.heartbeat_interval == 50
    assert [plug.title for plug in running.plugs.values()] == ["Router"]


async def test_a_flow_that_reloads_an_entry_with_a_listener_fails_the_test(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """The check in tests/conftest.py is live: the way BaluPi's flows reloaded the
    entry before (Home Assistant 2026.11: "should use it for scheduling a reload")."""
    flow = balupi.config_flow.BaluPiConfigFlow()
    flow.hass = hass
    flow.handler = DOMAIN
    flow.context = {"source": "reconfigure", "entry_id": loaded_entry.entry_id}
    with pytest.raises(AssertionError, match="reloads an entry that has an update"):
        flow.async_update_reload_and_abort(
            loaded_entry, data_updates={"pi_ip": "10.1.1.1"}
        )
