"""Buttons of BaluPi: waking the NAS."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BaluPiConfigEntry
from .entity import BaluPiNasEntity

# One wake-up at a time.
PARALLEL_UPDATES = 1

WAKE = ButtonEntityDescription(key="wake", translation_key="wake")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BaluPiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the Wake-on-LAN button to the NAS."""
    async_add_entities([WakeButton(entry.runtime_data.nas, WAKE)])


class WakeButton(BaluPiNasEntity, ButtonEntity):
    """Sends the magic packet, unless the NAS is up, waking, or has no power."""

    async def async_press(self) -> None:
        """Wake the NAS; a refusal says why, in the user's language."""
        await self.coordinator.async_wake()
