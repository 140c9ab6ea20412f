"""Setting BaluPi up, the NAS heartbeat and its entities, unloading."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.balupi import settings
from custom_components.balupi.const import (
    CONF_HANDSHAKE_SECRET,
    CONF_HEARTBEAT_INTERVAL,
    CONF_INBOX_FOLDER,
    CONF_NAS_INBOX_PATH,
    CONF_NAS_IP,
    CONF_NAS_URL,
    CONF_PI_IP,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_SSH_HOST_KEY,
    CONF_SSH_PORT,
    CONF_SSH_PRIVATE_KEY,
    CONF_SSH_PUBLIC_KEY,
    CONF_SSH_USER,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.balupi.inbox import generate_key_pair
from simulators.baluhost import BaluHostSimulator, NasMode

from .conftest import NAS_MAC, device_with_mac, entry_data, skip_dns_and_inbox, tick

REACHABLE = "binary_sensor.baluhost_nas_reachable"
LATENCY = "sensor.baluhost_nas_heartbeat_latency"
INTERVAL = timedelta(seconds=int(DEFAULT_OPTIONS[CONF_HEARTBEAT_INTERVAL]))


async def next_heartbeat(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    await tick(hass, freezer, INTERVAL.total_seconds())


async def test_setup_with_the_nas_up(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The NAS device carries its MAC and software version; it is reachable."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    state = hass.states.get(REACHABLE)
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["device_class"] == "connectivity"

    device = device_with_mac(device_registry, loaded_entry, NAS_MAC)
    assert device is not None
    assert device.identifiers == {(DOMAIN, NAS_MAC)}
    assert device.connections == {(dr.CONNECTION_NETWORK_MAC, NAS_MAC)}
    assert device.manufacturer == "BaluHost"
    assert device.sw_version == nas.version
    assert device.configuration_url == nas.url

    reachable = entity_registry.async_get(REACHABLE)
    assert reachable is not None
    assert reachable.unique_id == f"{NAS_MAC}_reachable"
    assert reachable.device_id == device.id

    latency = entity_registry.async_get(LATENCY)
    assert latency is not None
    assert latency.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert latency.entity_category is not None


async def test_setup_succeeds_with_the_nas_asleep(
    hass: HomeAssistant, nas: BaluHostSimulator, config_entry: MockConfigEntry
) -> None:
    """BaluPi is for the time the NAS is away: setup must not wait for it."""
    await nas.set_mode(NasMode.REFUSED)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    state = hass.states.get(REACHABLE)
    assert state is not None
    assert state.state == STATE_OFF


async def test_heartbeat_follows_the_nas_and_logs_each_change_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.balupi")
    await nas.set_mode(NasMode.REFUSED)
    for _ in range(3):
        await next_heartbeat(hass, freezer)
    state = hass.states.get(REACHABLE)
    assert state is not None
    assert state.state == STATE_OFF
    assert caplog.text.count("did not answer its health check: connection refused") == 1

    await nas.set_mode(NasMode.UP)
    for _ in range(3):
        await next_heartbeat(hass, freezer)
    state = hass.states.get(REACHABLE)
    assert state is not None
    assert state.state == STATE_ON
    assert caplog.text.count("answers its health checks again") == 1
    assert caplog.text.count("did not answer") == 1
    # Nothing was ever left unasked, so nothing says so.
    assert "not asked" not in caplog.text


async def test_heartbeat_polls_at_the_configured_interval(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
) -> None:
    polled = nas.health_requests
    for _ in range(2):
        freezer.tick(INTERVAL / 3)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert nas.health_requests == polled, "no poll before the interval is over"
    for expected in range(1, 4):
        await next_heartbeat(hass, freezer)
        assert nas.health_requests == polled + expected


async def test_latency_sensor_when_enabled(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Latency in ms while the NAS answers, unknown while it does not.

    Real time here (no freezer): the simulated NAS really waits 50 ms.
    """
    entity_registry.async_update_entity(LATENCY, disabled_by=None)
    await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    heartbeat = loaded_entry.runtime_data.nas

    nas.latency = 0.05
    await heartbeat.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get(LATENCY)
    assert state is not None
    assert state.attributes["unit_of_measurement"] == "ms"
    assert 50 <= float(state.state) < 1000

    await nas.set_mode(NasMode.ERROR)
    await heartbeat.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get(LATENCY)
    assert state is not None
    assert state.state == "unknown"


async def test_device_version_follows_a_nas_update(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    nas.version = "1.17.0"
    await next_heartbeat(hass, freezer)
    device = device_with_mac(device_registry, loaded_entry, NAS_MAC)
    assert device is not None
    assert device.sw_version == "1.17.0"


async def test_unload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: BaluHostSimulator,
    loaded_entry: MockConfigEntry,
) -> None:
    """Unloading stops the heartbeat and leaves the entities unavailable."""
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    state = hass.states.get(REACHABLE)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE

    polled = nas.health_requests
    await next_heartbeat(hass, freezer)
    assert nas.health_requests == polled


async def test_reconfigure_reloads_once(
    hass: HomeAssistant, nas: BaluHostSimulator, loaded_entry: MockConfigEntry
) -> None:
    """Changed data reloads through the flow; the options listener stays quiet."""
    polled = nas.health_requests
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"nas_url": nas.url, "pi_ip": "192.168.178.30"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await skip_dns_and_inbox(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    # One probe by the flow, one first refresh by the single reload.
    assert nas.health_requests == polled + 2
    assert loaded_entry.runtime_data.connection.pi_ip == "192.168.178.30"


async def test_options_saved_while_setting_up_are_applied(
    hass: HomeAssistant, nas: BaluHostSimulator, config_entry: MockConfigEntry
) -> None:
    """Options saved before setup listens for them (a script, right after adding a
    plug) still reload the entry."""
    await nas.set_mode(NasMode.SILENT)  # holds setup's first health check
    config_entry.add_to_hass(hass)
    setup = hass.async_create_task(
        hass.config_entries.async_setup(config_entry.entry_id)
    )
    for _ in range(500):  # until the health check waits at the NAS (5 s at most)
        if nas.health_requests:
            break
        await asyncio.sleep(0.01)
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, CONF_HEARTBEAT_INTERVAL: 60},
    )
    await nas.set_mode(NasMode.UP)
    await setup
    await hass.async_block_till_done()  # the reload it scheduled
    assert config_entry.state is ConfigEntryState.LOADED
    heartbeat = config_entry.runtime_data.nas
    assert heartbeat.update_interval == timedelta(seconds=60)


async def test_an_entry_of_the_first_version_gets_its_webhooks(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """Entries saved before the webhooks existed get two IDs and load."""
    data = {k: v for k, v in entry_data(nas).items() if not k.startswith("webhook_")}
    entry = MockConfigEntry(domain=DOMAIN, unique_id=NAS_MAC, data=data)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == 2
    ids = {entry.data["webhook_going_offline"], entry.data["webhook_coming_online"]}
    assert len(ids) == 2


async def test_an_entry_of_a_newer_version_is_left_alone(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=NAS_MAC, data=entry_data(nas), version=2
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.data == entry_data(nas)


_PRIVATE_KEY, _PUBLIC_KEY = generate_key_pair()


def _inbox_data(folder: Path) -> dict[str, Any]:
    return {
        CONF_INBOX_FOLDER: str(folder),
        CONF_NAS_INBOX_PATH: "/srv/inbox",
        CONF_SSH_USER: "balupi",
        CONF_SSH_PORT: 22,
        CONF_SSH_PRIVATE_KEY: _PRIVATE_KEY,
        CONF_SSH_PUBLIC_KEY: _PUBLIC_KEY,
        CONF_SSH_HOST_KEY: " ".join(_PUBLIC_KEY.split()[:2]),
    }


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        pytest.param({CONF_NAS_URL: "http://"}, CONF_NAS_URL, id="unparseable-url"),
        pytest.param({CONF_NAS_IP: "nas.local"}, CONF_NAS_IP, id="ip-not-an-ip"),
        pytest.param({CONF_HANDSHAKE_SECRET: "short"}, CONF_HANDSHAKE_SECRET, id="short-secret"),
        pytest.param({CONF_PIHOLE_URL: "pi.hole"}, CONF_PIHOLE_URL, id="pihole-url"),
        pytest.param({CONF_SSH_PRIVATE_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage"}, CONF_SSH_PRIVATE_KEY, id="invalid-key"),
        pytest.param({CONF_SSH_HOST_KEY: "ssh-ed25519 AAAA"}, CONF_SSH_HOST_KEY, id="invalid-host-key"),
        pytest.param({"inbox_is": "file"}, CONF_INBOX_FOLDER, id="inbox-is-a-file"),
        pytest.param({"inbox_is": "under-a-file"}, CONF_INBOX_FOLDER, id="inbox-under-a-file"),
        pytest.param({CONF_INBOX_FOLDER: "relative/inbox"}, CONF_INBOX_FOLDER, id="inbox-relative"),
        pytest.param({"drop": CONF_PI_IP}, CONF_PI_IP, id="missing"),
    ],
)  # fmt: skip
async def test_stored_settings_that_cannot_work_fail_setup_by_name(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    tmp_path: Path,
    change: dict[str, str],
    setting: str,
) -> None:
    """test-before-setup: a setting that cannot work is a ConfigEntryError naming it.

    Nothing is polled and nothing is retried: only the user can correct it.
    """
    data = {
        **entry_data(nas),
        CONF_PIHOLE_URL: "http://127.0.0.1:9",
        CONF_PIHOLE_PASSWORD: "x",
        **_inbox_data(tmp_path / "inbox"),
    }
    if (inbox_is := change.pop("inbox_is", None)) is not None:
        (tmp_path / "a-file").write_text("not a folder")
        data[CONF_INBOX_FOLDER] = str(
            tmp_path / "a-file" / ("inbox" if inbox_is == "under-a-file" else "")
        ).rstrip("/")
    if (dropped := change.pop("drop", None)) is not None:
        del data[dropped]
    data.update(change)
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=NAS_MAC, data=data, options=dict(DEFAULT_OPTIONS)
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert entry.reason.startswith(f"The stored setting {setting} cannot work: ")
    assert "garbage" not in entry.reason  # a key is never shown
    assert nas.health_requests == 0
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_setup_creates_a_missing_inbox_folder(
    hass: HomeAssistant, nas: BaluHostSimulator, tmp_path: Path
) -> None:
    """As the flow does: a folder that is not there yet is made, not refused."""
    folder = tmp_path / "new" / "inbox"
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=NAS_MAC,
        data={**entry_data(nas), **_inbox_data(folder)},
        options=dict(DEFAULT_OPTIONS),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert folder.is_dir()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_inbox_folder_home_assistant_may_not_use_fails_setup(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not readable and writable for Home Assistant's user (the suite runs as root,
    which may do anything, so the kernel's answer is played here)."""
    monkeypatch.setattr(settings.os, "access", lambda *_: False)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=NAS_MAC,
        data={**entry_data(nas), **_inbox_data(tmp_path)},
        options=dict(DEFAULT_OPTIONS),
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason == (
        f"The stored setting {CONF_INBOX_FOLDER} cannot work: "
        f"{tmp_path} cannot be read and written. Reconfigure BaluPi to correct it"
    )
