"""Base entity of BaluPi."""

from __future__ import annotations

from homeassistant.helpers.device_registry import CONNECTION_NETWORK_MAC, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import BaluPiConfigEntry, PlugCoordinator
from .lifecycle import NasLifecycleCoordinator
from .settings import ConnectionSettings


def nas_device_info(connection: ConnectionSettings) -> DeviceInfo:
    """Describe the BaluHost NAS as a device; its MAC identifies it."""
    return DeviceInfo(
        identifiers={(DOMAIN, connection.nas_mac)},
        connections={(CONNECTION_NETWORK_MAC, connection.nas_mac)},
        manufacturer="BaluHost",
        model="NAS",
        name="BaluHost NAS",
        configuration_url=connection.nas_url,
    )


def hub_device_info(entry: BaluPiConfigEntry) -> DeviceInfo:
    """Describe BaluPi itself (the Pi) as the device of the whole-home figures."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        manufacturer="BaluPi",
        model="Raspberry Pi companion",
        name="BaluPi",
    )


def plug_device_info(plug: PlugCoordinator) -> DeviceInfo:
    """Describe a Tapo plug as a device; its MAC identifies it."""
    return DeviceInfo(
        identifiers={(DOMAIN, plug.mac)},
        connections={(CONNECTION_NETWORK_MAC, plug.mac)},
        manufacturer="TP-Link",
        model=plug.model,
        name=plug.title,
    )


class BaluPiPlugEntity(CoordinatorEntity[PlugCoordinator]):
    """An entity of one plug's device."""

    _attr_has_entity_name = True

    def __init__(self, plug: PlugCoordinator, description: EntityDescription) -> None:
        """Attach the entity to the plug's device."""
        super().__init__(plug)
        self.entity_description = description
        self._attr_unique_id = f"{plug.mac}_{description.key}"
        self._attr_device_info = plug_device_info(plug)

    @property
    def available(self) -> bool:
        """Available once the plug was read and while its polls succeed."""
        return super().available and self.coordinator.data is not None


class BaluPiNasEntity(CoordinatorEntity[NasLifecycleCoordinator]):
    """An entity of the NAS device, fed by the lifecycle coordinator."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: NasLifecycleCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the NAS device of the coordinator's entry."""
        super().__init__(coordinator)
        self.entity_description = description
        connection = coordinator.config_entry.runtime_data.connection
        self._attr_unique_id = f"{connection.nas_mac}_{description.key}"
        self._attr_device_info = nas_device_info(connection)


class BaluPiHubEntity(CoordinatorEntity[NasLifecycleCoordinator]):
    """An entity of BaluPi's own device (the Pi), fed by the lifecycle coordinator."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: NasLifecycleCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the BaluPi device of the coordinator's entry."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = hub_device_info(entry)
