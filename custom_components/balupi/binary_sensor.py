"""Binary sensors of BaluPi."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BaluPiConfigEntry
from .entity import BaluPiNasEntity
from .lifecycle import NasStatus

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NasBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor read from the heartbeat."""

    is_on_fn: Callable[[NasStatus], bool | None]


NAS_BINARY_SENSORS: tuple[NasBinarySensorDescription, ...] = (
    NasBinarySensorDescription(
        key="reachable",
        translation_key="reachable",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        is_on_fn=lambda status: status.reachable,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BaluPiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS's binary sensors."""
    coordinator = entry.runtime_data.nas
    async_add_entities(
        NasBinarySensor(coordinator, description) for description in NAS_BINARY_SENSORS
    )


class NasBinarySensor(BaluPiNasEntity, BinarySensorEntity):
    """A binary sensor of the NAS device."""

    entity_description: NasBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """Return the state from the latest heartbeat (None: BaluPi cannot tell)."""
        return self.entity_description.is_on_fn(self.coordinator.data)
