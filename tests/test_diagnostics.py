"""Diagnostics: useful for a bug report, and without the handshake secret."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from simulators.baluhost import BaluHostSimulator
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import SECRET, TAPO_PASSWORD, TAPO_USERNAME


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
