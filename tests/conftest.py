"""Fixtures shared by BaluPi's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
import contextlib
from datetime import timedelta
import errno
from pathlib import Path
from typing import Any

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    ConfigFlow,
    ConfigSubentryData,
    ConfigSubentryFlow,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from kasa.httpclient import HttpClient
from kasa.protocols import SmartProtocol
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
import pytest_socket

# Imported before the `hass` fixture runs: otherwise the harness's own
# testing_config/custom_components package shadows ours ("Integration not found").
import custom_components.balupi  # noqa: F401
from custom_components.balupi.const import (
    CONF_CONNECTION,
    CONF_HANDSHAKE_SECRET,
    CONF_HOST,
    CONF_MAC,
    CONF_MEASURES,
    CONF_MODEL,
    CONF_NAS_IP,
    CONF_NAS_MAC,
    CONF_NAS_PLUG,
    CONF_NAS_URL,
    CONF_PI_IP,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
    DEFAULT_OPTIONS,
    DOMAIN,
    SUBENTRY_PLUG,
)
from custom_components.balupi.inbox import generate_key_pair
from custom_components.balupi.plugs import ENERGY_BASICS, MEASURES, RSSI, PlugAddress
from simulators.baluhost import BaluHostSimulator
from simulators.pihole import PiholeSimulator
from simulators.sshd import SshServer
from simulators.tapo import TapoPlugSimulator

NAS_MAC = "aa:bb:cc:00:11:22"
PI_IP = "192.168.178.20"
SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret-42"
WEBHOOK_GOING_OFFLINE = "balupi-test-going-offline"
WEBHOOK_COMING_ONLINE = "balupi-test-coming-online"


SSH_PRIVATE_KEY, SSH_PUBLIC_KEY = generate_key_pair()
"""BaluPi's SSH key in the tests: ``sshd`` lets it in."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/balupi."""


@pytest.fixture
async def nas(socket_enabled: None) -> AsyncIterator[BaluHostSimulator]:
    """A BaluHost NAS on loopback, up and answering."""
    simulator = BaluHostSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture(autouse=True)
def no_retry_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let python-kasa retry at once, to keep the tests fast.

    It sleeps 1 s before retrying after a timeout or an HTTP 403 (expired session),
    and 0.25 s between requests once a connection failed; a failed update of a
    connected device re-queries every method one by one. The retries themselves,
    and so what the tests check, stay the same.
    """
    monkeypatch.setattr(SmartProtocol, "BACKOFF_SECONDS_AFTER_TIMEOUT", 0)
    monkeypatch.setattr(HttpClient, "WAIT_BETWEEN_REQUESTS_ON_OSERROR", 0)


@pytest.fixture(autouse=True)
def discovery_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plug discovery asks 127.0.0.1, never the whole network, and briefly.

    A test that needs a plug found at another loopback address sets the target to it.
    """
    for module in ("const", "plug_flow", "coordinator"):
        monkeypatch.setattr(
            f"custom_components.balupi.{module}.DISCOVERY_TARGET", "127.0.0.1"
        )
    monkeypatch.setattr("custom_components.balupi.coordinator.SEARCH_TIMEOUT", 1.0)


@pytest.fixture(autouse=True)
def no_plug_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """BaluPi's search for moved plugs finds nothing, at once.

    Its discovery listens on the event loop's clock, which tests with a frozen clock
    never let run out; tests/test_plug_moves.py searches for real.
    """

    async def find_nothing(**kwargs: Any) -> dict[str, PlugAddress]:
        return {}

    monkeypatch.setattr(
        "custom_components.balupi.coordinator.find_addresses", find_nothing
    )


@pytest.fixture
def loopback_hosts(socket_enabled: None) -> None:
    """Let the test connect to every 127.0.0.x, not only 127.0.0.1: plugs that move.

    Loopback only; the harness blocks every other address as before.
    """
    pytest_socket.socket_allow_hosts([f"127.0.0.{n}" for n in range(1, 255)])


@pytest.fixture
def real_resolver(request: pytest.FixtureRequest) -> None:
    """Resolve host names with Home Assistant's own resolver on this test's loop.

    Newer harness versions share one mocked resolver bound to the session's loop;
    resolving "localhost" through it fails with "attached to a different loop".
    """
    with contextlib.suppress(pytest.FixtureLookupError):
        request.getfixturevalue("disable_mock_zeroconf_resolver")


@pytest.fixture
def fast_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """Wait 0.2 s instead of 5 s for a NAS that does not answer."""
    timeout = 0.2
    monkeypatch.setattr("custom_components.balupi.config_flow.HEALTH_TIMEOUT", timeout)
    monkeypatch.setattr("custom_components.balupi.lifecycle.HEALTH_TIMEOUT", timeout)
    return timeout


def entry_data(nas: BaluHostSimulator) -> dict[str, Any]:
    """Connection data of an entry for the simulated NAS."""
    return {
        CONF_NAS_URL: nas.url,
        CONF_NAS_IP: nas.host,
        CONF_NAS_MAC: NAS_MAC,
        CONF_PI_IP: PI_IP,
        CONF_HANDSHAKE_SECRET: SECRET,
        CONF_WEBHOOK_GOING_OFFLINE: WEBHOOK_GOING_OFFLINE,
        CONF_WEBHOOK_COMING_ONLINE: WEBHOOK_COMING_ONLINE,
    }


@pytest.fixture
def config_entry(nas: BaluHostSimulator) -> MockConfigEntry:
    """A BaluPi entry for the simulated NAS, not yet added to Home Assistant."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data=entry_data(nas),
        options=dict(DEFAULT_OPTIONS),
        minor_version=2,
    )


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The BaluPi entry, set up."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


PIHOLE_PASSWORD = "pihole-web-password"
ROUTER_RECORD = "192.168.178.1 fritz.box"


@pytest.fixture
async def pihole(socket_enabled: None) -> AsyncIterator[PiholeSimulator]:
    """A Pi-hole v6 on loopback with a web password and the router's record."""
    simulator = PiholeSimulator(password=PIHOLE_PASSWORD, hosts=[ROUTER_RECORD])
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def dns_entry(nas: BaluHostSimulator, pihole: PiholeSimulator) -> MockConfigEntry:
    """A BaluPi entry that switches baluhost.local in the simulated Pi-hole."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data={
            **entry_data(nas),
            CONF_PIHOLE_URL: pihole.url,
            CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD,
        },
        options=dict(DEFAULT_OPTIONS),
        minor_version=2,
    )


@pytest.fixture
async def loaded_dns_entry(
    hass: HomeAssistant, dns_entry: MockConfigEntry
) -> MockConfigEntry:
    """The entry with a Pi-hole, set up."""
    dns_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(dns_entry.entry_id)
    await hass.async_block_till_done()
    return dns_entry


TAPO_USERNAME = "user@example.com"
TAPO_PASSWORD = "tapo-secret"


@pytest.fixture
async def plugs(socket_enabled: None) -> AsyncIterator[list[TapoPlugSimulator]]:
    """Three Tapo plugs on loopback: the NAS's (45 W) and two small ones."""
    simulators = [
        TapoPlugSimulator(
            alias="NAS plug", mac="48:22:54:00:00:01", power_w=45.0,
            voltage_v=231.0, energy_today_wh=320, energy_month_wh=9100,
        ),
        TapoPlugSimulator(
            alias="Router", mac="48:22:54:00:00:02", power_w=4.0,
            energy_today_wh=50, energy_month_wh=1500,
        ),
        TapoPlugSimulator(
            alias="Pi", model="P115", mac="48:22:54:00:00:03", power_w=3.2,
            energy_today_wh=40, energy_month_wh=1200,
        ),
    ]  # fmt: skip
    for simulator in simulators:
        await simulator.start()
    yield simulators
    for simulator in simulators:
        await simulator.stop()


def plug_address(simulator: TapoPlugSimulator) -> PlugAddress:
    """How python-kasa reaches a simulated plug: KLAP v2 over HTTP on its port."""
    return PlugAddress(
        host=simulator.host,
        connection={
            "device_family": "SMART.TAPOPLUG",
            "encryption_type": "KLAP",
            "login_version": 2,
            "https": False,
            "http_port": simulator.port,
        },
    )


async def answer_discovery(simulator: TapoPlugSimulator) -> None:
    """Let the plug answer discovery (UDP 20002 on its address), waiting a little if
    a test on another worker briefly holds that port."""
    for _ in range(50):
        try:
            await simulator.start_discovery()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            await asyncio.sleep(0.1)
        else:
            return
    await simulator.start_discovery()


def plug_measures(simulator: TapoPlugSimulator) -> list[str]:
    """What a simulated plug measures, as its subentry stores it."""
    if simulator.energy_monitoring < 2:
        return sorted({*ENERGY_BASICS, RSSI})
    return sorted(MEASURES)


def plug_subentry(
    simulator: TapoPlugSimulator, *, measures: bool = True
) -> ConfigSubentryData:
    """The config subentry that stores a simulated plug, as the flow would.

    ``measures=False``: as BaluPi 0.1 stored it, before it knew what a plug measures.
    """
    address = plug_address(simulator)
    data: dict[str, Any] = {
        CONF_HOST: address.host,
        CONF_CONNECTION: dict(address.connection),
        CONF_MAC: simulator.mac.lower(),
        CONF_MODEL: simulator.model,
    }
    if measures:
        data[CONF_MEASURES] = plug_measures(simulator)
    return ConfigSubentryData(
        data=data,
        subentry_type=SUBENTRY_PLUG,
        title=simulator.alias,
        unique_id=simulator.mac.lower(),
    )


def account_entry(
    nas: BaluHostSimulator,
    plugs: Sequence[TapoPlugSimulator],
    options: dict[str, Any] | None = None,
    *,
    measures: bool = True,
) -> MockConfigEntry:
    """A BaluPi entry for ``nas`` with the Tapo account and ``plugs`` as sub-entries."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data={
            **entry_data(nas),
            CONF_TAPO_USERNAME: TAPO_USERNAME,
            CONF_TAPO_PASSWORD: TAPO_PASSWORD,
        },
        options=dict(DEFAULT_OPTIONS) if options is None else options,
        subentries_data=[plug_subentry(plug, measures=measures) for plug in plugs],
        minor_version=2,
    )


@pytest.fixture
def plug_entry(
    nas: BaluHostSimulator, plugs: list[TapoPlugSimulator]
) -> MockConfigEntry:
    """A BaluPi entry with a Tapo account and the three plugs, the first one the NAS's."""
    return account_entry(
        nas, plugs, {**DEFAULT_OPTIONS, CONF_NAS_PLUG: plugs[0].mac.lower()}
    )


@pytest.fixture
async def loaded_plug_entry(
    hass: HomeAssistant, plug_entry: MockConfigEntry
) -> MockConfigEntry:
    """The entry with plugs, set up and every plug read once."""
    plug_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(plug_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return plug_entry


def device_with_mac(
    registry: dr.DeviceRegistry, entry: MockConfigEntry, mac: str
) -> dr.DeviceEntry | None:
    """The entry's device with this MAC (async_get_device is deprecated in new HA)."""
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if (dr.CONNECTION_NETWORK_MAC, mac) in device.connections:
            return device
    return None


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Let ``seconds`` pass on the frozen clock and wait for what fell due.

    Scheduled refreshes run as background tasks, so those are waited for too.
    """
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def skip_dns_and_inbox(hass: HomeAssistant, result: Any) -> Any:
    """Leave the Pi-hole and the inbox steps of a config flow empty."""
    assert result["step_id"] == "pihole", result
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "inbox", result
    return await hass.config_entries.flow.async_configure(result["flow_id"], {})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[dict[tuple[str, str], Handler]], Awaitable[str]]


@pytest.fixture
async def peer(socket_enabled: None) -> AsyncIterator[Serve]:
    """Serve some handlers, by (method, path), on loopback: a peer that is not ours.

    For what a wrong URL can reach instead of the NAS or the Pi-hole.
    """
    runners: list[web.AppRunner] = []

    async def serve(routes: dict[tuple[str, str], Handler]) -> str:
        app = web.Application()
        for (method, path), handler in routes.items():
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield serve
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def sshd(tmp_path: Path, socket_enabled: None) -> AsyncIterator[SshServer]:
    """A real sshd on loopback (the NAS's end of the inbox) that lets SSH_PUBLIC_KEY in.

    Started before any clock freezes: ``SshServer.start`` waits on the loop's clock.
    """
    server = SshServer(tmp_path / "sshd")
    server.authorize(SSH_PUBLIC_KEY)
    await server.start()
    yield server
    server.stop()


async def read_nas_plug(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Read the NAS plug now and let its reading move the NAS state.

    For a NAS that just fell silent: a health check sent to it first would wait for
    its 5 s timeout, which a frozen clock never reaches.
    """
    nas_plug = entry.runtime_data.nas_plug
    assert nas_plug is not None
    await nas_plug.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture(autouse=True)
def flows_leave_the_reload_to_the_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail every test whose flow reloads an entry that has an update listener.

    BaluPi's loaded entry has one, which reloads it on every change; Home Assistant
    2026.11 logs ``async_update_reload_and_abort`` on such an entry as deprecated (it
    breaks in 2026.12, and the entry would reload twice), and its sub-entry variant
    refuses it. Checked here on every Home Assistant release the suite runs on, also
    those that do not log it yet.
    """
    for flow in (ConfigFlow, ConfigSubentryFlow):
        original = getattr(flow, "async_update_reload_and_abort", None)
        if original is None:  # sub-entries have it since Home Assistant 2025.7
            continue

        def checked(
            self: Any, entry: Any, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            assert not entry.update_listeners, (
                f"{type(self).__name__} ({self.source}) reloads an entry that has an "
                "update listener: store the change, the listener reloads it"
            )
            return _original(self, entry, *args, **kwargs)

        monkeypatch.setattr(flow, "async_update_reload_and_abort", checked)
