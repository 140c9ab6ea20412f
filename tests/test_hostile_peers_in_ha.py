"""Odd answers from the NAS, the Pi-hole or a plug never take BaluPi down in Home Assistant.

With a real ``hass`` and a loaded entry: whatever the NAS's health endpoint and the
Pi-hole answer (``simulators.hostile``), at setup and at a later poll, the entry stays
loaded, the NAS's pushes are answered and the plugs are polled; a plug that garbles
its replies goes unavailable alone, and a bomb from it costs little.
"""

from __future__ import annotations

import logging
import re
import tracemalloc

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    CONF_NAS_PLUG,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from simulators.baluhost import BaluHostSimulator
from simulators.hostile import Hostile, bomb
from simulators.nas_push import NasPushClient
from simulators.pihole import PiholeSimulator
from simulators.snapshot import make_snapshot
from simulators.tapo import TapoPlugSimulator

from .conftest import (
    NAS_MAC,
    PIHOLE_PASSWORD,
    SECRET,
    TAPO_PASSWORD,
    TAPO_USERNAME,
    entry_data,
    plug_subentry,
    tick,
)
from .test_hostile_peers import BOMB_BUDGET, NAS_REASONS

POLL = 30
"""Seconds between two heartbeats and between two plug polls (the defaults)."""


@pytest.fixture
def full_entry(
    nas: BaluHostSimulator, pihole: PiholeSimulator, plugs: list[TapoPlugSimulator]
) -> MockConfigEntry:
    """An entry with everything a peer can answer: NAS, Pi-hole and three plugs."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data={
            **entry_data(nas),
            CONF_PIHOLE_URL: pihole.url,
            CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD,
            CONF_TAPO_USERNAME: TAPO_USERNAME,
            CONF_TAPO_PASSWORD: TAPO_PASSWORD,
        },
        options={**DEFAULT_OPTIONS, CONF_NAS_PLUG: plugs[0].mac.lower()},
        subentries_data=[plug_subentry(plug) for plug in plugs],
        minor_version=2,
    )


def push_client(client: TestClient) -> NasPushClient:
    """A push client that behaves exactly like the BaluHost NAS."""
    return NasPushClient(client.session, str(client.make_url("")).rstrip("/"), SECRET)


def assert_working(hass: HomeAssistant, entry: MockConfigEntry, kind: Hostile) -> None:
    """Loaded; the heartbeat ran and saw the odd replies as failures; plugs read."""
    assert entry.state is ConfigEntryState.LOADED
    nas = entry.runtime_data.nas
    assert nas.last_update_success
    sample = nas.data.sample
    assert sample is not None
    assert not sample.reachable
    assert sample.error is not None
    assert re.search(NAS_REASONS[kind], sample.error), sample.error
    dns = nas.data.dns
    assert dns is not None
    assert dns.error is not None
    for plug in entry.runtime_data.plugs.values():
        assert plug.last_update_success, plug.title
    state = hass.states.get("sensor.router_power")
    assert state is not None
    assert float(state.state) == pytest.approx(4.0)


@pytest.mark.parametrize("kind", list(Hostile))
async def test_odd_nas_and_pihole_replies_at_setup_and_later(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    full_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    pihole: PiholeSimulator,
    plugs: list[TapoPlugSimulator],
    hass_client_no_auth: ClientSessionGenerator,
    kind: Hostile,
) -> None:
    nas.hostile = pihole.hostile = kind
    full_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(full_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert_working(hass, full_entry, kind)
    assert all(plug.requests for plug in plugs)
    pushes = push_client(await hass_client_no_auth())
    reply = await pushes.coming_online()
    await hass.async_block_till_done()
    assert reply.status == 200
    assert reply.ok, reply

    # Healthy for a while, then odd again at a later poll.
    nas.hostile = pihole.hostile = None
    await tick(hass, freezer, POLL)
    assert full_entry.runtime_data.nas.data.reachable
    dns = full_entry.runtime_data.nas.data.dns
    assert dns is not None
    assert dns.error is None
    nas.hostile = pihole.hostile = kind
    requests = [plug.requests for plug in plugs]
    await tick(hass, freezer, POLL)
    assert_working(hass, full_entry, kind)
    assert all(
        plug.requests > before for plug, before in zip(plugs, requests, strict=True)
    )
    reply = await pushes.going_offline(make_snapshot())
    await hass.async_block_till_done()
    assert reply.status == 200
    assert reply.ok, reply


@pytest.mark.parametrize(
    "kind", [Hostile.WRONG_TYPES, Hostile.NOT_JSON, Hostile.HUGE_NUMBER]
)
async def test_a_garbling_plug_goes_unavailable_alone(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    caplog: pytest.LogCaptureFixture,
    kind: Hostile,
) -> None:
    """Switching says so, polls make it unavailable: the plug's own errors only."""
    router = plugs[1]
    router.hostile = kind
    with pytest.raises(HomeAssistantError, match="Router"):
        await hass.services.async_call(
            "switch", "turn_on", {"entity_id": "switch.router"}, blocking=True
        )
    for _ in range(2):  # connected, then connecting afresh
        await tick(hass, freezer, POLL)
        state = hass.states.get("sensor.router_power")
        assert state is not None
        assert state.state == STATE_UNAVAILABLE
        state = hass.states.get("sensor.nas_plug_power")
        assert state is not None
        assert float(state.state) == pytest.approx(45.0)
    assert loaded_plug_entry.state is ConfigEntryState.LOADED
    assert "Unexpected error" not in caplog.text
    router.hostile = None
    await tick(hass, freezer, POLL)
    state = hass.states.get("sensor.router_power")
    assert state is not None
    assert float(state.state) == pytest.approx(4.0)


@pytest.mark.parametrize("kind", [Hostile.GZIP_BOMB, Hostile.DEFLATE_BOMB])
async def test_a_plug_bomb_costs_little_in_home_assistant(
    hass: HomeAssistant,
    loaded_plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    caplog: pytest.LogCaptureFixture,
    kind: Hostile,
) -> None:
    """The plugs' sessions, made by BaluPi's Home Assistant layer, do not inflate.

    python-kasa's error records carry the reply's repr; they are left out of the
    figure (pytest keeps every record; see test_hostile_peers).
    """
    caplog.set_level(logging.CRITICAL, logger="kasa")
    bomb(gzip=kind is Hostile.GZIP_BOMB)  # made before measuring
    router = next(
        plug
        for plug in loaded_plug_entry.runtime_data.plugs.values()
        if plug.title == "Router"
    )
    plugs[1].hostile = kind
    tracemalloc.start()
    try:
        await router.async_refresh()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not router.last_update_success
    assert peak < BOMB_BUDGET, f"{peak / 2**20:.1f} MiB"


async def test_plugs_use_sessions_made_by_home_assistant(
    hass: HomeAssistant, loaded_plug_entry: MockConfigEntry
) -> None:
    """One per plug, on Home Assistant's connection pool, let go at unload."""
    client = loaded_plug_entry.runtime_data.plugs[
        next(iter(loaded_plug_entry.runtime_data.plugs))
    ]._client
    sessions = [device.config.http_client for device in client._devices.values()]
    assert len(sessions) == 3
    assert len({id(session) for session in sessions}) == 3
    pool = async_get_clientsession(hass, verify_ssl=False).connector
    for session in sessions:
        assert session is not None
        assert session.connector is pool
        assert session.auto_decompress is False
    assert await hass.config_entries.async_unload(loaded_plug_entry.entry_id)
    assert all(session is not None and session.closed for session in sessions)
    assert not pool.closed
