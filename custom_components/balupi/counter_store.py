"""The plugs' energy counters, kept in Home Assistant's storage across restarts."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .counters import PlugCounters

STORAGE_VERSION = 1
SAVE_DELAY = 30.0
"""Seconds a changed counter waits to be saved: one small write per half minute at
most, whatever the number of plugs. Unloading (and stopping) saves at once."""


def counter_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where the last published energy counters of an entry's plugs are kept."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.energy_counters")


class CounterKeeper:
    """Hands each plug its counters as saved before the restart, and saves them."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep the counters of entry ``entry_id``."""
        self._store = counter_store(hass, entry_id)
        self._saved: dict[str, Any] = {}
        self._counters: dict[str, PlugCounters] = {}
        self._pending = False

    async def async_load(self) -> None:
        """Read what was saved before the restart."""
        stored = await self._store.async_load()
        self._saved = stored if isinstance(stored, dict) else {}

    def counters(self, plug_id: str) -> PlugCounters:
        """The counters of the plug with config subentry ``plug_id``."""
        counters = PlugCounters.from_stored(self._saved.get(plug_id))
        self._counters[plug_id] = counters
        return counters

    @callback
    def async_changed(self) -> None:
        """A counter changed: save within ``SAVE_DELAY``."""
        if not self._pending:
            self._pending = True
            self._store.async_delay_save(self._stored, SAVE_DELAY)

    async def async_save(self) -> None:
        """Save now (the entry unloads)."""
        await self._store.async_save(self._stored())

    def _stored(self) -> dict[str, Any]:
        # Plugs removed since the last save are left out, and forgotten.
        self._pending = False
        return {plug_id: c.as_stored() for plug_id, c in self._counters.items()}
