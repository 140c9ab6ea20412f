"""Sensors of BaluPi."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BaluPiConfigEntry, HeartbeatSample
from .entity import BaluPiNasEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NasSensorDescription(SensorEntityDescription):
    """A sensor read from the heartbeat."""

    value_fn: Callable[[HeartbeatSample], float | None]


NAS_SENSORS: tuple[NasSensorDescription, ...] = (
    NasSensorDescription(
        key="heartbeat_latency",
        translation_key="heartbeat_latency",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Changes with every poll and matters only when diagnosing the network.
        entity_registry_enabled_default=False,
        value_fn=lambda sample: (
            sample.health.latency * 1000 if sample.health is not None else None
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BaluPiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS's sensors."""
    coordinator = entry.runtime_data.heartbeat
    async_add_entities(
        NasSensor(coordinator, description) for description in NAS_SENSORS
    )


class NasSensor(BaluPiNasEntity, SensorEntity):
    """A sensor of the NAS device."""

    entity_description: NasSensorDescription

    @property
    def native_value(self) -> float | None:
        """Return the value from the latest heartbeat."""
        return self.entity_description.value_fn(self.coordinator.data)
