"""BaluPi: a Raspberry Pi beside a BaluHost NAS, in Home Assistant."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
import shutil
from typing import Any

from homeassistant.components import webhook
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType
from homeassistant.loader import async_get_integration
from kasa import Credentials

from .const import (
    CONF_CONNECTION,
    CONF_HOST,
    CONF_PORT,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
    DOMAIN,
    LOGGER,
    REAUTH_OF,
    REAUTH_PIHOLE,
)
from .coordinator import (
    BaluPiConfigEntry,
    BaluPiData,
    EntryConfiguration,
    PlugCoordinator,
    PlugSearch,
)
from .counter_store import CounterKeeper, counter_store
from .dns import DnsSwitcher
from .entity import hub_device_info, nas_device_info, plug_device_info
from .flush import InboxFlusher, flush_workdir
from .handshake import PushVerifier
from .lifecycle import NasLifecycleCoordinator, state_store
from .pihole import PiholeClient
from .plug_flow import plug_subentries
from .plugs import PlugClient
from .replay import DATA_REPLAY, ReplayKeeper, accepted_pushes_store, replay_store
from .services import async_register_services
from .settings import ConnectionSettings, Options, StoredSettingError
from .snapshot import SnapshotKeeper, snapshot_store
from .views import async_register_views, async_register_webhooks
from .websession import PlugSessions

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SENSOR,
    Platform.SWITCH,
]
PIHOLE_TIMEOUT = 5.0
"""Seconds a Pi-hole request may take; a push waits for the DNS switch."""

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Serve the NAS's endpoints and register the actions, once.

    The signatures of accepted pushes are remembered for all entries together.
    """
    replay = ReplayKeeper(hass)
    await replay.async_load(
        [entry.entry_id for entry in hass.config_entries.async_entries(DOMAIN)]
    )
    hass.data[DATA_REPLAY] = replay
    integration = await async_get_integration(hass, DOMAIN)
    async_register_views(hass, str(integration.version))
    async_register_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> bool:
    """Set up BaluPi for one NAS and its plugs.

    Neither a NAS that does not answer nor an offline plug is a reason to fail: the
    NAS may be asleep, and plugs drop off Wi-Fi. Both are polled from the start and
    their entities show what is known. What can be checked is: stored settings that
    cannot work (ConfigEntryError, named) and a Pi-hole that rejects the password
    (ConfigEntryAuthFailed from the first heartbeat: reauthentication).
    """
    configuration = _configuration(entry)
    try:
        connection = ConnectionSettings.from_data(entry.data)
        connection.check()
        if connection.inbox is not None:
            await hass.async_add_executor_job(connection.inbox.check_folder)
    except StoredSettingError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="stored_setting_invalid",
            translation_placeholders={"setting": err.setting, "error": err.reason},
        ) from err
    options = configuration.options
    devices = dr.async_get(hass)
    # The NAS device exists before the first heartbeat so that its software
    # version can be recorded from the very first answer.
    nas_device = devices.async_get_or_create(
        config_entry_id=entry.entry_id, **nas_device_info(connection)
    )
    devices.async_get_or_create(
        config_entry_id=entry.entry_id, **hub_device_info(entry)
    )
    dns = None
    if connection.pihole is not None:
        client = PiholeClient(
            async_get_clientsession(hass),
            connection.pihole.url,
            connection.pihole.password,
            timeout=PIHOLE_TIMEOUT,
        )
        dns = DnsSwitcher(
            hass,
            entry.entry_id,
            client,
            connection.pihole,
            nas_ip=connection.nas_ip,
            pi_ip=connection.pi_ip,
            on_rejected=partial(
                entry.async_start_reauth, hass, data={REAUTH_OF: REAUTH_PIHOLE}
            ),
        )
        entry.async_on_unload(dns.async_close)
    inbox = None
    if connection.inbox is not None:
        inbox = InboxFlusher(
            hass,
            entry,
            connection.inbox,
            connection.nas_ip,
            settle_time=options.inbox_settle_time,
        )
    nas = NasLifecycleCoordinator(
        hass,
        entry,
        connection,
        options,
        nas_device.id,
        snapshots=SnapshotKeeper(hass, entry.entry_id),
        dns=dns,
        inbox=inbox,
    )
    await nas.async_restore()
    replay = hass.data[DATA_REPLAY]
    verifier = PushVerifier(connection.handshake_secret, guard=replay.guard)
    data = BaluPiData(connection, options, nas, verifier, replay, configuration)
    if connection.tapo_username is not None:
        sessions = PlugSessions(hass)
        entry.async_on_unload(sessions.detach)
        plug_client = PlugClient(
            Credentials(connection.tapo_username, connection.tapo_password or ""),
            session_factory=sessions,
        )
        entry.async_on_unload(plug_client.close)
        counters = CounterKeeper(hass, entry.entry_id)
        await counters.async_load()
        entry.async_on_unload(counters.async_save)
        data.search = PlugSearch(hass, entry)
        for subentry in plug_subentries(entry):
            plug = PlugCoordinator(
                hass, entry, plug_client, subentry, options, counters, data.search
            )
            plug.device_id = devices.async_get_or_create(
                config_entry_id=entry.entry_id,
                config_subentry_id=subentry.subentry_id,
                **plug_device_info(plug),
            ).id
            data.plugs[subentry.subentry_id] = plug
    entry.runtime_data = data
    if (nas_plug := data.nas_plug) is not None:
        nas.async_follow_plug(nas_plug)
    # The first heartbeat reads the NAS plug before it may ask the NAS anything: a
    # NAS that fell asleep while Home Assistant was down is not woken by a restart.
    await nas.async_config_entry_first_refresh()
    for plug in data.plugs.values():
        if plug.asked:
            continue  # the NAS plug, read by the first heartbeat
        # In the background: a plug that is off Wi-Fi must not hold up the setup.
        entry.async_create_background_task(
            hass, plug.async_refresh(), f"balupi first read of {plug.title}"
        )
    async_register_webhooks(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_update))
    # Changed while this setup ran, before the listener was there to see it
    # (options saved right after adding a plug, say).
    _async_reload_if_outdated(hass, entry)
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


async def async_migrate_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> bool:
    """Bring an entry saved by an earlier version up to date."""
    if entry.version > 1:
        return False  # Saved by a newer BaluPi: do not guess.
    if entry.minor_version < 2:
        # 1.2: the pushes also arrive as webhooks, each with its own ID.
        hass.config_entries.async_update_entry(
            entry,
            data={
                **entry.data,
                CONF_WEBHOOK_GOING_OFFLINE: webhook.async_generate_id(),
                CONF_WEBHOOK_COMING_ONLINE: webhook.async_generate_id(),
            },
            minor_version=2,
        )
    return True


async def async_remove_entry(hass: HomeAssistant, entry: BaluPiConfigEntry) -> None:
    """Forget the stored NAS state, snapshot, counters, pushes and inbox work files."""
    await state_store(hass, entry.entry_id).async_remove()
    await replay_store(hass, entry.entry_id).async_remove()
    others = [
        other
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id
    ]
    if not others:
        await accepted_pushes_store(hass).async_remove()
    await counter_store(hass, entry.entry_id).async_remove()
    await snapshot_store(hass, entry.entry_id).async_remove()
    await hass.async_add_executor_job(
        partial(shutil.rmtree, flush_workdir(hass, entry.entry_id), ignore_errors=True)
    )


async def _async_reload_on_update(
    hass: HomeAssistant, entry: BaluPiConfigEntry
) -> None:
    """Apply a changed entry by reloading it: the one place a loaded entry reloads.

    Options (options flow), plugs added or removed (sub-entries) and data (the
    reconfigure, reauth and discovery flows store their changes and leave the reload to
    this listener, as Home Assistant asks of an entry that has one) all arrive here.
    A plug found at another address (or given one by hand) is followed without a
    reload: its coordinator reads it there, its entities stay as they are.
    """
    _async_follow_moved_plugs(entry)
    _async_reload_if_outdated(hass, entry)


@callback
def _async_follow_moved_plugs(entry: BaluPiConfigEntry) -> None:
    """Let each plug whose sub-entry changed only in where it is read it there."""
    running = entry.runtime_data
    if running.reload_scheduled:
        return
    before = running.configuration.plugs
    moved = {}
    for subentry in plug_subentries(entry):
        plug = running.plugs.get(subentry.subentry_id)
        was = before.get(subentry.subentry_id)
        now = dict(subentry.data)
        if plug is None or was is None or now == was:
            continue
        if _without_address(now) == _without_address(was):
            plug.async_follow(subentry)
            moved[subentry.subentry_id] = now
    if moved:
        running.configuration = replace(
            running.configuration, plugs={**before, **moved}
        )


def _without_address(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in data.items()
        if key not in (CONF_HOST, CONF_CONNECTION, CONF_PORT)
    }


@callback
def _async_reload_if_outdated(hass: HomeAssistant, entry: BaluPiConfigEntry) -> None:
    """Schedule one reload when the entry differs from what it was set up from.

    Changes that arrive together (a plug's sub-entry and the account stored with it)
    or before the scheduled reload starts are all applied by that one reload.
    """
    running = entry.runtime_data
    if running.reload_scheduled or _configuration(entry) == running.configuration:
        return
    running.reload_scheduled = True
    hass.config_entries.async_schedule_reload(entry.entry_id)


def _configuration(entry: BaluPiConfigEntry) -> EntryConfiguration:
    """What ``entry`` holds now: its data, its options and its plugs' data."""
    return EntryConfiguration(
        data=dict(entry.data),
        options=Options.from_options(entry.options),
        plugs={
            subentry.subentry_id: dict(subentry.data)
            for subentry in plug_subentries(entry)
        },
    )
