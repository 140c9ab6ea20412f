"""BaluPi: a Raspberry Pi beside a BaluHost NAS, in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from kasa import Credentials

from .const import LOGGER
from .coordinator import BaluPiConfigEntry, BaluPiData, PlugCoordinator
from .entity import hub_device_info, nas_device_info, plug_device_info
from .lifecycle import NasLifecycleCoordinator, state_store
from .plug_flow import plug_subentries
from .plugs import PlugClient
from .settings import ConnectionSettings, Options

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> bool:
    """Set up BaluPi for one NAS and its plugs.

    Neither a NAS that does not answer nor an offline plug is a reason to fail: the
    NAS may be asleep, and plugs drop off Wi-Fi. Both are polled from the start and
    their entities show what is known.
    """
    connection = ConnectionSettings.from_data(entry.data)
    options = Options.from_options(entry.options)
    devices = dr.async_get(hass)
    # The NAS device exists before the first heartbeat so that its software
    # version can be recorded from the very first answer.
    nas_device = devices.async_get_or_create(
        config_entry_id=entry.entry_id, **nas_device_info(connection)
    )
    devices.async_get_or_create(
        config_entry_id=entry.entry_id, **hub_device_info(entry)
    )
    nas = NasLifecycleCoordinator(hass, entry, connection, options, nas_device.id)
    await nas.async_restore()
    data = BaluPiData(connection, options, nas)
    if connection.tapo_username is not None:
        client = PlugClient(
            Credentials(connection.tapo_username, connection.tapo_password or "")
        )
        entry.async_on_unload(client.close)
        for subentry in plug_subentries(entry):
            plug = PlugCoordinator(hass, entry, client, subentry, options)
            plug.device_id = devices.async_get_or_create(
                config_entry_id=entry.entry_id,
                config_subentry_id=subentry.subentry_id,
                **plug_device_info(plug),
            ).id
            data.plugs[subentry.subentry_id] = plug
    entry.runtime_data = data
    if (nas_plug := data.nas_plug) is not None:
        nas.async_follow_plug(nas_plug)
    await nas.async_config_entry_first_refresh()
    for plug in data.plugs.values():
        # In the background: a plug that is off Wi-Fi must not hold up the setup.
        entry.async_create_background_task(
            hass, plug.async_refresh(), f"balupi first read of {plug.title}"
        )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_update))
    LOGGER.debug(
        "BaluPi set up for the NAS at %s with %d plugs, heartbeat every %s s",
        connection.nas_url,
        len(data.plugs),
        options.heartbeat_interval,
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> bool:
    """Unload a BaluPi entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> None:
    """Forget the stored NAS state of a removed entry."""
    await state_store(hass, entry.entry_id).async_remove()


async def _async_reload_on_update(
    hass: HomeAssistant, entry: BaluPiConfigEntry
) -> None:
    """Apply changed options or added and removed plugs by reloading the entry.

    Reconfiguring changes only the data and reloads the entry itself, so only a
    change of options or of the plug subentries needs a reload here.
    """
    running = entry.runtime_data
    plugs = {subentry.subentry_id for subentry in plug_subentries(entry)}
    if Options.from_options(entry.options) != running.options or plugs != set(
        running.plugs
    ):
        await hass.config_entries.async_reload(entry.entry_id)
