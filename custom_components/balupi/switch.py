"""Switches of BaluPi: each plug's relay."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BaluPiConfigEntry
from .entity import BaluPiPlugEntity

# One command at a time per plug is what a Tapo plug handles well.
PARALLEL_UPDATES = 1

RELAY = SwitchEntityDescription(key="relay", name=None)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BaluPiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for every plug."""
    for plug in entry.runtime_data.plugs.values():
        async_add_entities(
            [PlugSwitch(plug, RELAY)], config_subentry_id=plug.subentry_id
        )


class PlugSwitch(BaluPiPlugEntity, SwitchEntity):
    """Turns a plug on and off."""

    @property
    def is_on(self) -> bool | None:
        """Return whether the plug's relay is on."""
        data = self.coordinator.data
        return None if data is None else data.is_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch the plug on."""
        await self._switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch the plug off."""
        await self._switch(False)

    async def _switch(self, on: bool) -> None:
        await self.coordinator.async_set_on(on)
