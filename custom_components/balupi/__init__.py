"""BaluPi: a Raspberry Pi beside a BaluHost NAS, in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import LOGGER
from .coordinator import BaluPiConfigEntry, BaluPiData, NasHeartbeatCoordinator
from .entity import nas_device_info
from .settings import ConnectionSettings, Options

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> bool:
    """Set up BaluPi for one NAS.

    A NAS that does not answer is no reason to fail: it may be asleep or off, and
    BaluPi is there precisely for that time.
    """
    connection = ConnectionSettings.from_data(entry.data)
    options = Options.from_options(entry.options)
    # The NAS device exists before the first heartbeat so that its software
    # version can be recorded from the very first answer.
    nas_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **nas_device_info(connection)
    )
    heartbeat = NasHeartbeatCoordinator(hass, entry, connection, options, nas_device.id)
    entry.runtime_data = BaluPiData(connection, options, heartbeat)
    await heartbeat.async_config_entry_first_refresh()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_update))
    LOGGER.debug(
        "BaluPi set up for the NAS at %s, heartbeat every %s s",
        connection.nas_url,
        options.heartbeat_interval,
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> bool:
    """Unload a BaluPi entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def _async_reload_on_update(
    hass: HomeAssistant, entry: BaluPiConfigEntry
) -> None:
    """Apply changed options by reloading the entry.

    Reconfiguring changes only the data and reloads the entry itself, so only a
    change of options needs a reload here.
    """
    if Options.from_options(entry.options) != entry.runtime_data.options:
        await hass.config_entries.async_reload(entry.entry_id)
