"""Sensors of BaluPi: the NAS's heartbeat, every plug, and whole-home figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    Platform,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfInformation,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import BaluPiConfigEntry, BaluPiData
from .dns import DnsPointer
from .energy import NasPower, cost, month_estimate, total
from .entity import BaluPiHubEntity, BaluPiNasEntity, BaluPiPlugEntity, hub_device_info
from .lifecycle import NasLifecycleCoordinator, NasStatus
from .nas_state import NasState
from .plugs import (
    CURRENT,
    ENERGY_MONTH,
    ENERGY_TODAY,
    POWER,
    RSSI,
    VOLTAGE,
    PlugReading,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NasSensorDescription(SensorEntityDescription):
    """A sensor read from the heartbeat."""

    value_fn: Callable[[NasStatus], StateType | datetime]
    available_fn: Callable[[NasStatus], bool] = lambda status: True
    attrs_fn: Callable[[NasStatus], Mapping[str, Any] | None] = lambda status: None


NAS_SENSORS: tuple[NasSensorDescription, ...] = (
    NasSensorDescription(
        key="nas_state",
        translation_key="nas_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in NasState],
        # While BaluPi cannot tell (the NAS plug it relies on is away), it says so
        # instead of repeating the last state; the attribute keeps that one.
        value_fn=lambda status: (
            status.state.value if status.known else NasState.UNKNOWN.value
        ),
        attrs_fn=lambda status: (
            None if status.known else {"last_known_state": status.state.value}
        ),
    ),
    NasSensorDescription(
        key="nas_state_since",
        translation_key="nas_state_since",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda status: status.since,
    ),
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
        value_fn=lambda status: (
            status.sample.health.latency * 1000
            if status.sample is not None and status.sample.health is not None
            else None
        ),
    ),
)

# What the NAS said about itself when it last shut down: shown while it is away.
SNAPSHOT_SENSORS: tuple[NasSensorDescription, ...] = (
    NasSensorDescription(
        key="last_snapshot",
        translation_key="last_snapshot",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda status: (
            status.snapshot.received_at if status.snapshot else None
        ),
        available_fn=lambda status: status.snapshot is not None,
    ),
    NasSensorDescription(
        key="storage_used",
        translation_key="storage_used",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=1,
        value_fn=lambda status: (
            status.snapshot.storage_used if status.snapshot else None
        ),
        available_fn=lambda status: (
            status.snapshot is not None and status.snapshot.storage_used is not None
        ),
    ),
    NasSensorDescription(
        key="array_state",
        translation_key="array_state",
        value_fn=lambda status: (
            status.snapshot.array_state if status.snapshot else None
        ),
        available_fn=lambda status: (
            status.snapshot is not None and status.snapshot.array_state is not None
        ),
        attrs_fn=lambda status: (
            {"arrays": status.snapshot.arrays} if status.snapshot else None
        ),
    ),
    NasSensorDescription(
        key="failing_disks",
        translation_key="failing_disks",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: (
            len(disks)
            if status.snapshot and (disks := status.snapshot.failing_disks) is not None
            else None
        ),
        available_fn=lambda status: (
            status.snapshot is not None and status.snapshot.failing_disks is not None
        ),
        attrs_fn=lambda status: (
            {"disks": status.snapshot.failing_disks} if status.snapshot else None
        ),
    ),
)

DNS_SENSOR = NasSensorDescription(
    key="dns_target",
    translation_key="dns_target",
    device_class=SensorDeviceClass.ENUM,
    options=[pointer.value for pointer in DnsPointer],
    value_fn=lambda status: (
        status.dns.pointer.value if status.dns and status.dns.pointer else None
    ),
    available_fn=lambda status: (
        status.dns is not None and status.dns.pointer is not None
    ),
)

INBOX_SENSORS: tuple[NasSensorDescription, ...] = (
    NasSensorDescription(
        key="inbox_size",
        translation_key="inbox_size",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEGABYTES,
        suggested_display_precision=1,
        value_fn=lambda status: (
            status.inbox.content.bytes
            if status.inbox and status.inbox.content
            else None
        ),
        available_fn=lambda status: (
            status.inbox is not None and status.inbox.content is not None
        ),
    ),
    NasSensorDescription(
        key="inbox_files",
        translation_key="inbox_files",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: (
            status.inbox.content.files
            if status.inbox and status.inbox.content
            else None
        ),
        available_fn=lambda status: (
            status.inbox is not None and status.inbox.content is not None
        ),
    ),
)

NAS_POWER_STATE = NasSensorDescription(
    key="power_state",
    translation_key="nas_power_state",
    device_class=SensorDeviceClass.ENUM,
    options=[state.value for state in NasPower],
    value_fn=lambda status: status.power.value if status.power else None,
    available_fn=lambda status: status.power is not None,
)


@dataclass(frozen=True, kw_only=True)
class PlugSensorDescription(SensorEntityDescription):
    """A sensor read from one plug, made only for a plug that measures it."""

    measure: str
    """What the plug must measure for the sensor to exist (``plugs.MEASURES``)."""
    value_fn: Callable[[PlugReading], float | None]

    def exists_for(self, measures: frozenset[str] | None) -> bool:
        """Whether a plug that measures ``measures`` gets this sensor.

        Until a plug has been read once, it gets every sensor.
        """
        return measures is None or self.measure in measures


PLUG_SENSORS: tuple[PlugSensorDescription, ...] = (
    PlugSensorDescription(
        key="power",
        measure=POWER,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=1,
        value_fn=lambda reading: reading.power,
    ),
    PlugSensorDescription(
        key="voltage",
        measure=VOLTAGE,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        value_fn=lambda reading: reading.voltage,
    ),
    PlugSensorDescription(
        key="current",
        measure=CURRENT,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        value_fn=lambda reading: reading.current,
    ),
    PlugSensorDescription(
        key="energy_today",
        measure=ENERGY_TODAY,
        translation_key="energy_today",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda reading: reading.energy_today,
    ),
    PlugSensorDescription(
        key="energy_month",
        measure=ENERGY_MONTH,
        translation_key="energy_month",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda reading: reading.energy_month,
    ),
    PlugSensorDescription(
        key="signal_strength",
        measure=RSSI,
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda reading: reading.rssi,
    ),
)


def _readings(data: BaluPiData) -> list[PlugReading]:
    return [plug.data for plug in data.plugs.values() if plug.data is not None]


def _cost_today(data: BaluPiData, now: datetime) -> float | None:
    kwh = total(reading.energy_today for reading in _readings(data))
    return None if kwh is None else cost(kwh, data.options.energy_price)


def _cost_month(data: BaluPiData, now: datetime) -> float | None:
    kwh = total(reading.energy_month for reading in _readings(data))
    return None if kwh is None else cost(kwh, data.options.energy_price)


def _cost_estimate(data: BaluPiData, now: datetime) -> float | None:
    so_far = _cost_month(data, now)
    # To the cent: the extrapolation moves with the clock, and unrounded it would
    # give the recorder a new state at every plug reading.
    return None if so_far is None else round(month_estimate(so_far, now), 2)


@dataclass(frozen=True, kw_only=True)
class HubSensorDescription(SensorEntityDescription):
    """A whole-home figure computed from all plugs."""

    value_fn: Callable[[BaluPiData, datetime], float | None]
    monetary: bool = False


# The costs have no state class: they follow the plugs' day and month, which need not
# be Home Assistant's, so they cannot give the recorder a clean last_reset. The Energy
# dashboard computes costs from the energy sensors and the price itself.
HUB_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key="total_power",
        translation_key="total_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=1,
        value_fn=lambda data, now: total(r.power for r in _readings(data)),
    ),
    HubSensorDescription(
        key="energy_cost_today",
        translation_key="energy_cost_today",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_cost_today,
    ),
    HubSensorDescription(
        key="energy_cost_month",
        translation_key="energy_cost_month",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_cost_month,
    ),
    HubSensorDescription(
        key="energy_cost_month_estimate",
        translation_key="energy_cost_month_estimate",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_cost_estimate,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BaluPiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS's, the plugs' and the whole-home sensors."""
    data = entry.runtime_data
    async_add_entities(
        NasSensor(data.nas, description)
        for description in (*NAS_SENSORS, *SNAPSHOT_SENSORS)
    )
    hub_sensors = []
    if data.nas.dns is not None:
        hub_sensors.append(DNS_SENSOR)
    if data.nas.inbox is not None:
        hub_sensors.extend(INBOX_SENSORS)
    async_add_entities(
        HubStatusSensor(data.nas, description) for description in hub_sensors
    )
    # Reconfigured without a Pi-hole or an inbox: their sensors go away.
    registry = er.async_get(hass)
    for description in (DNS_SENSOR, *INBOX_SENSORS):
        if description not in hub_sensors and (
            entity_id := registry.async_get_entity_id(
                Platform.SENSOR, DOMAIN, f"{entry.entry_id}_{description.key}"
            )
        ):
            registry.async_remove(entity_id)
    for plug in data.plugs.values():
        async_add_entities(
            (
                PlugSensor(plug, description)
                for description in PLUG_SENSORS
                if description.exists_for(plug.measures)
            ),
            config_subentry_id=plug.subentry_id,
        )
        # Sensors made before the plug was known not to measure them go away (a
        # P110 on its first firmware has no voltage or current).
        for unmeasured in PLUG_SENSORS:
            if not unmeasured.exists_for(plug.measures) and (
                entity_id := registry.async_get_entity_id(
                    Platform.SENSOR, DOMAIN, f"{plug.mac}_{unmeasured.key}"
                )
            ):
                registry.async_remove(entity_id)
    if data.connection.tapo_username is not None:
        async_add_entities(HubSensor(entry, description) for description in HUB_SENSORS)
    if data.nas_plug is not None:
        async_add_entities([NasSensor(data.nas, NAS_POWER_STATE)])


class _StatusSensor(CoordinatorEntity[NasLifecycleCoordinator], SensorEntity):
    """A sensor read from the lifecycle coordinator's status."""

    entity_description: NasSensorDescription

    @property
    def available(self) -> bool:
        """Available while the lifecycle coordinator runs and the value is known."""
        return super().available and self.entity_description.available_fn(
            self.coordinator.data
        )

    @property
    def native_value(self) -> StateType | datetime:
        """Return the value from the NAS's status."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details that do not fit the state, such as the arrays' states."""
        return self.entity_description.attrs_fn(self.coordinator.data)


class NasSensor(BaluPiNasEntity, _StatusSensor):
    """A sensor of the NAS device."""


class HubStatusSensor(BaluPiHubEntity, _StatusSensor):
    """A sensor of BaluPi's own device: the DNS record and the inbox."""


class PlugSensor(BaluPiPlugEntity, SensorEntity):
    """A sensor of a plug's device."""

    entity_description: PlugSensorDescription

    @property
    def native_value(self) -> float | None:
        """Return the value from the plug's latest reading."""
        return self.entity_description.value_fn(self.coordinator.data)


class HubSensor(SensorEntity):
    """A figure over all plugs, updated whenever any plug reports."""

    entity_description: HubSensorDescription
    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, entry: BaluPiConfigEntry, description: HubSensorDescription
    ) -> None:
        """Attach the sensor to BaluPi's own device."""
        self.entity_description = description
        self._data = entry.runtime_data
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = hub_device_info(entry)

    async def async_added_to_hass(self) -> None:
        """Follow every plug's updates."""
        await super().async_added_to_hass()
        if self.entity_description.monetary:
            self._attr_native_unit_of_measurement = self.hass.config.currency
        for plug in self._data.plugs.values():
            self.async_on_remove(plug.async_add_listener(self._plug_updated))

    @callback
    def _plug_updated(self) -> None:
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Available once every plug was asked and at least one answered.

        Summing the plugs as their first readings trickle in would record too low a
        total (and minimum) for the hour Home Assistant started in.
        """
        plugs = self._data.plugs.values()
        return all(plug.asked for plug in plugs) and any(
            plug.data is not None for plug in plugs
        )

    @property
    def native_value(self) -> float | None:
        """Return the figure over the plugs read so far."""
        return self.entity_description.value_fn(self._data, dt_util.now())
