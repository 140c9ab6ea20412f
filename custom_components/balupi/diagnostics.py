"""Diagnostics of BaluPi: what a bug report needs, without secrets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_HANDSHAKE_SECRET
from .coordinator import BaluPiConfigEntry

TO_REDACT = {CONF_HANDSHAKE_SECRET}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BaluPiConfigEntry
) -> dict[str, Any]:
    """Return the entry's settings and the latest heartbeat."""
    sample = entry.runtime_data.heartbeat.data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "heartbeat": {
            "checked_at": sample.checked_at.isoformat(),
            "reachable": sample.reachable,
            "error": sample.error,
            "health": asdict(sample.health) if sample.health is not None else None,
        },
    }
