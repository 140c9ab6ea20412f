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

from .conftest import SECRET


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
