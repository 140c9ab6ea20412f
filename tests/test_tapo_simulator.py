"""The Tapo plug simulator, proven by driving unmodified python-kasa against it.

Nothing here touches the integration: these tests show that python-kasa's own KLAP v2
transport, SMART protocol, modules and discovery accept the simulator as a P110/P115,
so that the integration's tests can rely on it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import errno
import time
from typing import Any

import aiohttp
from kasa import (
    AuthenticationError,
    Credentials,
    Device,
    DeviceConfig,
    DeviceConnectionParameters,
    DeviceError,
    Discover,
    KasaException,
    Module,
)
import pytest

from simulators.tapo import PlugMode, TapoPlugSimulator, _parse_plug

USERNAME = "user@example.com"
PASSWORD = "tapo-secret"
KLAP_V2 = DeviceConnectionParameters.from_values(
    "SMART.TAPOPLUG", "KLAP", login_version=2, https=False
)

Connect = Callable[..., Awaitable[Device]]


@pytest.fixture
async def plug(socket_enabled: None) -> AsyncIterator[TapoPlugSimulator]:
    """A P110 on loopback with known readings."""
    simulator = TapoPlugSimulator(
        alias="NAS plug",
        mac="48:22:54:00:00:01",
        power_w=45.2,
        voltage_v=231.5,
        current_a=0.25,
        energy_today_wh=123,
        energy_month_wh=4567,
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Connect python-kasa to a simulated plug; every device is disconnected after."""
    devices: list[Device] = []

    async def _connect(
        simulator: TapoPlugSimulator,
        *,
        username: str = USERNAME,
        password: str = PASSWORD,
        timeout: float = 2,
    ) -> Device:
        config = DeviceConfig(
            host=simulator.host,
            port_override=simulator.port,
            credentials=Credentials(username, password),
            connection_type=KLAP_V2,
            timeout=timeout,  # type: ignore[arg-type]  # kasa annotates int, uses float
        )
        device = await Device.connect(config=config)
        devices.append(device)
        return device

    yield _connect
    for device in devices:
        await device.disconnect()


def energy(device: Device) -> Any:
    return device.modules[Module.Energy]


async def test_connect_reads_identity_and_energy(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)

    assert device.alias == "NAS plug"
    assert device.model == "P110"
    assert device.mac == "48:22:54:00:00:01"
    assert device.is_on is True
    assert device.rssi == plug.rssi
    assert device.device_id == plug.device_id
    assert device.sys_info["type"] == "SMART.TAPOPLUG"
    assert device.config.connection_type == KLAP_V2
    assert Module.Energy in device.modules
    meter = energy(device)
    assert meter.current_consumption == 45.2
    assert meter.voltage == 231.5
    assert meter.current == 0.25
    assert meter.consumption_today == 0.123
    assert meter.consumption_this_month == 4.567
    assert plug.handshakes == 1

    # Later updates see changed readings; python-kasa also asks for device usage.
    plug.power_w = 12.5
    plug.energy_today_wh = 150
    await device.update()
    assert meter.current_consumption == 12.5
    assert meter.consumption_today == 0.15
    assert plug.method_calls["get_device_usage"] == 1
    assert plug.handshakes == 1


async def test_current_follows_power_when_not_set(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    plug.current_a = None
    plug.power_w = 115.0
    plug.voltage_v = 230.0

    device = await connect(plug)

    assert energy(device).current == 0.5


async def test_switch_off_and_on(plug: TapoPlugSimulator, connect: Connect) -> None:
    device = await connect(plug)

    await device.turn_off()
    # python-kasa learns the new state only from the next update.
    assert (plug.is_on, device.is_on) == (False, True)
    await device.update()
    assert device.is_on is False
    assert energy(device).current_consumption == 0
    assert energy(device).current == 0
    assert energy(device).voltage == 231.5

    await device.turn_on()
    await device.update()
    assert (plug.is_on, device.is_on) == (True, True)
    assert energy(device).current_consumption == 45.2


async def test_wrong_password_is_an_authentication_error(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    with pytest.raises(AuthenticationError):
        await connect(plug, password="not-the-password")  # noqa: S106

    assert plug.handshakes == 1
    assert plug.requests == 0


async def test_changed_account_fails_once_the_session_ends(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)

    plug.set_account(USERNAME, "changed-in-the-tapo-app")
    # The open session stays valid, as on a real plug...
    await device.update()
    # ...until it ends; the new handshake then no longer matches the account.
    plug.expire_sessions()
    # python-kasa (0.10 to 0.12) catches the AuthenticationError of an update after
    # the first one, re-queries each method alone and then raises a plain
    # KasaException ("get_device_info not found"). Only a new connection says why.
    with pytest.raises(KasaException):
        await device.update()
    with pytest.raises(AuthenticationError):
        await connect(plug)


async def test_expired_sessions_reconnect_transparently(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)
    assert plug.handshakes == 1

    plug.expire_sessions()
    plug.power_w = 60.0
    await device.update()

    assert energy(device).current_consumption == 60.0
    assert plug.rejected_requests == 1
    assert plug.handshakes == 2


async def test_session_older_than_its_timeout_is_rejected(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)

    # A day later by the plug's clock; python-kasa trusts the session 20 minutes
    # less than the TIMEOUT cookie, so only the plug can notice here.
    plug.clock = lambda: time.monotonic() + plug.session_timeout + 1
    await device.update()

    assert plug.rejected_requests == 1
    assert plug.handshakes == 2


async def test_client_honours_the_timeout_cookie(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    # Shorter than python-kasa's 20-minute safety margin: it re-handshakes before
    # every request, which proves it read the TIMEOUT cookie.
    plug.session_timeout = 600
    device = await connect(plug)
    handshakes = plug.handshakes

    await device.update()

    assert plug.handshakes > handshakes
    assert plug.rejected_requests == 0


async def test_refused_then_online_again(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)
    port = plug.port

    await plug.set_offline(PlugMode.REFUSED)
    with pytest.raises(KasaException):
        await device.update()

    await plug.set_offline(PlugMode.ONLINE)
    await device.update()
    assert plug.port == port
    assert energy(device).current_consumption == 45.2


async def test_silent_plug_times_out(plug: TapoPlugSimulator, connect: Connect) -> None:
    await plug.set_offline(PlugMode.SILENT)

    started = time.monotonic()
    # 0.10 reports the timeout as KasaException at once, 0.12 as kasa.TimeoutError
    # (a KasaException too) after three more attempts.
    with pytest.raises(KasaException):
        await connect(plug, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert plug.handshakes == 0

    await plug.set_offline(PlugMode.ONLINE)
    device = await connect(plug, timeout=0.2)
    assert device.is_on is True


async def test_connected_plug_going_silent(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)
    # The same config object drives python-kasa's HTTP timeout on every request.
    device.config.timeout = 0.02  # type: ignore[assignment]

    await plug.set_offline(PlugMode.SILENT)
    with pytest.raises(KasaException):
        await device.update()

    device.config.timeout = 2
    await plug.set_offline(PlugMode.ONLINE)
    await device.update()
    assert energy(device).current_consumption == 45.2


async def test_silent_plug_answers_held_requests_when_back(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)

    await plug.set_offline(PlugMode.SILENT)
    update = asyncio.create_task(device.update())
    await asyncio.sleep(0.1)
    assert not update.done()

    await plug.set_offline(PlugMode.ONLINE)
    await update
    assert energy(device).current_consumption == 45.2


async def test_latency_delays_every_answer(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)
    requests = plug.requests

    plug.latency = 0.2
    started = time.monotonic()
    await device.update()
    elapsed = time.monotonic() - started

    assert elapsed >= 0.2 * (plug.requests - requests)


async def test_reset_day_and_month(plug: TapoPlugSimulator, connect: Connect) -> None:
    device = await connect(plug)

    plug.reset_day()
    await device.update()
    assert energy(device).consumption_today == 0
    assert energy(device).consumption_this_month == 4.567

    plug.reset_month()
    await device.update()
    assert energy(device).consumption_today == 0
    assert energy(device).consumption_this_month == 0


async def test_run_for_adds_energy(plug: TapoPlugSimulator, connect: Connect) -> None:
    plug.reset_month()
    plug.power_w = 40.0
    plug.run_for(3600)
    device = await connect(plug)

    assert energy(device).consumption_today == 0.04
    assert energy(device).consumption_this_month == 0.04


async def test_p115(socket_enabled: None, connect: Connect) -> None:
    simulator = TapoPlugSimulator(model="P115", alias="TV", power_w=80.0)
    await simulator.start()
    try:
        device = await connect(simulator)
        assert device.model == "P115"
        assert device.alias == "TV"
        assert device.hw_info["sw_ver"] == simulator.firmware
        assert energy(device).current_consumption == 80.0
    finally:
        await simulator.stop()


async def test_two_plugs_at_once(socket_enabled: None, connect: Connect) -> None:
    first = TapoPlugSimulator(alias="NAS plug", mac="48:22:54:00:00:01", power_w=45)
    second = TapoPlugSimulator(
        alias="Desk", mac="48:22:54:00:00:02", model="P115", power_w=7.5
    )
    await first.start()
    await second.start()
    try:
        assert first.port != second.port
        one = await connect(first)
        two = await connect(second)
        assert (one.alias, one.mac, one.model) == (
            "NAS plug",
            "48:22:54:00:00:01",
            "P110",
        )
        assert (two.alias, two.mac, two.model) == ("Desk", "48:22:54:00:00:02", "P115")
        assert energy(one).current_consumption == 45
        assert energy(two).current_consumption == 7.5
        await two.turn_off()
        assert (first.is_on, second.is_on) == (True, False)
    finally:
        await first.stop()
        await second.stop()


async def test_unknown_method_is_a_device_error(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)

    with pytest.raises(DeviceError) as raised:
        await device.protocol.query("get_no_such_thing")
    assert raised.value.error_code is not None
    assert raised.value.error_code.value == -1002


async def test_klap_rejects_bad_handshake2_and_unknown_sessions(
    plug: TapoPlugSimulator,
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the plug is addressed by IP
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.post(f"{plug.url}/app/handshake1", data=bytes(16)) as reply:
            assert reply.status == 200
            assert len(await reply.read()) == 48
            assert reply.cookies["TIMEOUT"].value == "86400"
        async with session.post(f"{plug.url}/app/handshake2", data=bytes(32)) as reply:
            assert reply.status == 403
        async with session.post(
            f"{plug.url}/app/request", params={"seq": "1"}, data=bytes(48)
        ) as reply:
            assert reply.status == 403
    assert plug.rejected_requests == 1


async def _start_discovery(simulator: TapoPlugSimulator) -> None:
    """Bind UDP 20002, waiting a little if another test run briefly holds it."""
    for _ in range(20):
        try:
            await simulator.start_discovery()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            await asyncio.sleep(0.1)
        else:
            return
    await simulator.start_discovery()


async def test_discover_single(plug: TapoPlugSimulator) -> None:
    await _start_discovery(plug)

    device = await Discover.discover_single(
        "127.0.0.1",
        credentials=Credentials(USERNAME, PASSWORD),
        discovery_timeout=2,
    )
    assert device is not None
    try:
        params = device.config.connection_type
        assert params.device_family.value == "SMART.TAPOPLUG"
        assert params.encryption_type.value == "KLAP"
        assert params.login_version == 2
        assert params.https is False
        assert params.http_port == plug.port
        assert device.port == plug.port
        assert device.mac == plug.mac

        await device.update()
        assert device.alias == "NAS plug"
        assert energy(device).current_consumption == 45.2
    finally:
        await device.disconnect()


async def test_discover_targeted(plug: TapoPlugSimulator) -> None:
    await _start_discovery(plug)

    found = await Discover.discover(
        target="127.0.0.1",
        credentials=Credentials(USERNAME, PASSWORD),
        discovery_timeout=1,
    )
    try:
        assert list(found) == ["127.0.0.1"]
        device = found["127.0.0.1"]
        assert device.port == plug.port
        await device.update()
        assert device.model == "P110"
        assert device.alias == "NAS plug"
    finally:
        for device in found.values():
            await device.disconnect()


async def test_offline_plug_is_not_discovered(plug: TapoPlugSimulator) -> None:
    await _start_discovery(plug)
    await plug.set_offline(PlugMode.REFUSED)

    found = await Discover.discover(
        target="127.0.0.1",
        credentials=Credentials(USERNAME, PASSWORD),
        discovery_timeout=1,
    )

    assert found == {}


async def test_first_firmware_plays_energy_monitoring_version_1(
    socket_enabled: None, connect: Connect
) -> None:
    """As python-kasa's fixture P110(EU)_1.0_1.0.7: no voltage or current at all."""
    simulator = TapoPlugSimulator(energy_monitoring=1, power_w=20.0)
    await simulator.start()
    try:
        device = await connect(simulator)
        assert device.hw_info["sw_ver"].startswith("1.0.7 ")
        meter = energy(device)
        assert meter.supported_version == 1
        assert not meter.supports(meter.ModuleFeature.VOLTAGE_CURRENT)
        assert "voltage" not in device.features
        assert "current" not in device.features
        assert meter.voltage is None
        assert meter.current is None
        assert meter.current_consumption == 20.0
        assert simulator.method_calls["get_emeter_data"] == 0
        assert simulator.method_calls["get_current_power"] == 0
        # Asked anyway, the first firmware does not know it.
        with pytest.raises(DeviceError) as raised:
            await device.protocol.query("get_emeter_data")
        assert raised.value.error_code is not None
        assert raised.value.error_code.value == -1002
        usage = await device.protocol.query("get_energy_usage")
        assert {"past24h", "past7d", "past30d", "past1y"} <= set(
            usage["get_energy_usage"]
        )
        assert "voltage_mv" not in str(usage)
    finally:
        await simulator.stop()


async def test_a_current_plug_has_voltage_and_current(
    plug: TapoPlugSimulator, connect: Connect
) -> None:
    device = await connect(plug)
    meter = energy(device)
    assert meter.supported_version == 2
    assert meter.supports(meter.ModuleFeature.VOLTAGE_CURRENT)
    assert {"voltage", "current"} <= set(device.features)


async def test_a_plug_moves_to_another_address(
    socket_enabled: None, connect: Connect
) -> None:
    """DHCP gave it another address: the old one refuses, the new one answers."""
    simulator = TapoPlugSimulator(host="127.0.0.1", alias="Mover")
    await simulator.start()
    try:
        port = simulator.port
        await connect(simulator)
        await simulator.move_to("127.0.0.1", port=0)
        assert simulator.port not in (0, port)
        assert (await connect(simulator)).alias == "Mover"
        with pytest.raises(KasaException):
            await connect(TapoPlugSimulator(host="127.0.0.1", port=port), timeout=1)
    finally:
        await simulator.stop()


def test_command_line_plays_the_first_firmware() -> None:
    """``--plug "NAME,MODEL,WATTS,v1"``: a plug on energy monitoring version 1."""
    assert _parse_plug("Old,P110,20,v1") == ("Old", "P110", 20.0, 1)
    assert _parse_plug("NAS plug,P110,45") == ("NAS plug", "P110", 45.0, 2)
    with pytest.raises(argparse.ArgumentTypeError):
        _parse_plug("Odd,P110,20,v3")
