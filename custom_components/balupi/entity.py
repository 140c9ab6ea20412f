"""Base entity of BaluPi."""

from __future__ import annotations

from homeassistant.helpers.device_registry import CONNECTION_NETWORK_MAC, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import NasHeartbeatCoordinator
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


class BaluPiNasEntity(CoordinatorEntity[NasHeartbeatCoordinator]):
    """An entity of the NAS device, fed by the heartbeat."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: NasHeartbeatCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the NAS device of the coordinator's entry."""
        super().__init__(coordinator)
        self.entity_description = description
        connection = coordinator.config_entry.runtime_data.connection
        self._attr_unique_id = f"{connection.nas_mac}_{description.key}"
        self._attr_device_info = nas_device_info(connection)
