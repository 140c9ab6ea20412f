"""Plug access through unmodified python-kasa against simulated Tapo plugs (plain)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from kasa import Credentials
import pytest

from custom_components.balupi.plugs import (
    PlugAuthError,
    PlugClient,
    PlugMismatchError,
    PlugUnreachableError,
    PlugUnsupportedError,
    discover_plugs,
    find_addresses,
    probe_plug,
)
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import TAPO_PASSWORD, TAPO_USERNAME, answer_discovery, plug_address

ACCOUNT = Credentials(TAPO_USERNAME, TAPO_PASSWORD)


@pytest.fixture
async def client() -> PlugClient:
    plug_client = PlugClient(ACCOUNT, request_timeout=1, operation_timeout=3)
    yield plug_client  # type: ignore[misc]
    await plug_client.close()


async def test_read_reports_what_the_plug_measures(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    nas = plugs[0]
    reading = await client.read(plug_address(nas))
    assert reading.mac == "48:22:54:00:00:01"
    assert reading.alias == "NAS plug"
    assert reading.model == "P110"
    assert reading.is_on is True
    assert reading.power == pytest.approx(45.0)
    assert reading.voltage == pytest.approx(231.0)
    assert reading.current == pytest.approx(45.0 / 231.0, abs=0.001)
    assert reading.energy_today == pytest.approx(0.320)
    assert reading.energy_month == pytest.approx(9.100)
    assert reading.rssi == nas.rssi
    assert reading.firmware
    assert reading.device_time is not None


async def test_connection_is_reused(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    """One handshake, then only updates: a Pi 3B+ polls 30 plugs every 30 s."""
    nas = plugs[0]
    for _ in range(3):
        await client.read(plug_address(nas))
    assert nas.handshakes == 1


async def test_switching(client: PlugClient, plugs: list[TapoPlugSimulator]) -> None:
    router = plugs[1]
    reading = await client.set_on(plug_address(router), False)
    assert router.is_on is False
    assert reading.is_on is False
    assert reading.power == 0
    reading = await client.set_on(plug_address(router), True)
    assert router.is_on is True
    assert reading.is_on is True


async def test_wrong_password_is_an_auth_error(plugs: list[TapoPlugSimulator]) -> None:
    client = PlugClient(Credentials(TAPO_USERNAME, "wrong"), request_timeout=1)
    try:
        with pytest.raises(PlugAuthError, match="Tapo account rejected"):
            await client.read(plug_address(plugs[0]))
    finally:
        await client.close()


async def test_password_changed_while_connected(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    """python-kasa reports it as a plain failure first; the reconnect tells auth."""
    nas = plugs[0]
    await client.read(plug_address(nas))
    nas.set_account(TAPO_USERNAME, "changed-in-the-app")
    nas.expire_sessions()
    with pytest.raises(PlugUnreachableError):
        await client.read(plug_address(nas))
    with pytest.raises(PlugAuthError):
        await client.read(plug_address(nas))


async def test_session_expiry_is_transparent(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    nas = plugs[0]
    await client.read(plug_address(nas))
    nas.expire_sessions()
    nas.power_w = 50.0
    assert (await client.read(plug_address(nas))).power == pytest.approx(50.0)
    assert nas.handshakes == 2


async def test_offline_plug_and_back(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    nas = plugs[0]
    await client.read(plug_address(nas))
    await nas.set_offline(PlugMode.REFUSED)
    with pytest.raises(PlugUnreachableError):
        await client.read(plug_address(nas))
    await nas.set_offline(PlugMode.ONLINE)
    assert (await client.read(plug_address(nas))).power == pytest.approx(45.0)


async def test_silent_plug_costs_at_most_the_operation_timeout(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    nas = plugs[0]
    await client.read(plug_address(nas))
    await nas.set_offline(PlugMode.SILENT)
    started = time.monotonic()
    with pytest.raises(PlugUnreachableError, match="no answer within 3 s"):
        await client.read(plug_address(nas))
    assert time.monotonic() - started < 4
    await nas.set_offline(PlugMode.ONLINE)


async def test_a_dead_plug_does_not_hold_up_the_others(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    """Reads of different plugs run side by side; only the dead one waits."""
    nas = plugs[0]
    for plug in plugs:
        await client.read(plug_address(plug))
    await nas.set_offline(PlugMode.SILENT)
    finished: dict[str, float] = {}
    started = time.monotonic()

    async def read(plug: TapoPlugSimulator) -> None:
        with contextlib.suppress(PlugUnreachableError):
            await client.read(plug_address(plug))
        finished[plug.alias] = time.monotonic() - started

    await asyncio.gather(*(read(plug) for plug in plugs))
    assert finished["Router"] < 1
    assert finished["Pi"] < 1
    assert finished["NAS plug"] >= 2.9
    await nas.set_offline(PlugMode.ONLINE)


async def test_probe_by_address_and_port(plugs: list[TapoPlugSimulator]) -> None:
    """A plug behind a forwarded port: python-kasa tries its protocols on that port."""
    pi = plugs[2]
    address, reading = await probe_plug(
        pi.host, ACCOUNT, port=pi.port, request_timeout=1
    )
    assert reading.model == "P115"
    assert reading.mac == "48:22:54:00:00:03"
    assert address.key == f"127.0.0.1:{pi.port}"
    client = PlugClient(ACCOUNT, request_timeout=1)
    try:
        assert (await client.read(address)).alias == "Pi"
    finally:
        await client.close()


async def test_probe_with_wrong_password(plugs: list[TapoPlugSimulator]) -> None:
    with pytest.raises(PlugAuthError):
        await probe_plug(
            "127.0.0.1",
            Credentials(TAPO_USERNAME, "wrong"),
            port=plugs[0].port,
            request_timeout=1,
        )


async def test_probe_where_nothing_answers(plugs: list[TapoPlugSimulator]) -> None:
    nas = plugs[0]
    await nas.set_offline(PlugMode.REFUSED)
    with pytest.raises(PlugUnreachableError):
        await probe_plug("127.0.0.1", ACCOUNT, port=nas.port, request_timeout=1)


async def test_discovery_finds_the_plug_and_its_port(
    plugs: list[TapoPlugSimulator],
) -> None:
    nas = plugs[0]
    await nas.start_discovery()
    found = await discover_plugs(ACCOUNT, target="127.0.0.1", discovery_timeout=1)
    assert [(address.key, reading.alias) for address, reading in found] == [
        (f"127.0.0.1:{nas.port}", "NAS plug")
    ]
    address, reading = await probe_plug("127.0.0.1", ACCOUNT, discovery_timeout=1)
    assert address.connection["http_port"] == nas.port
    assert reading.alias == "NAS plug"


async def test_discovery_leaves_out_plugs_that_reject_the_account(
    plugs: list[TapoPlugSimulator],
) -> None:
    await plugs[0].start_discovery()
    found = await discover_plugs(
        Credentials(TAPO_USERNAME, "wrong"), target="127.0.0.1", discovery_timeout=1
    )
    assert found == []


async def test_plug_without_energy_monitoring_is_refused(
    plugs: list[TapoPlugSimulator],
) -> None:
    """A P100 answers like a P110 but has no energy module."""
    nas = plugs[0]
    nas.components = [c for c in nas.components if c[0] != "energy_monitoring"]
    with pytest.raises(PlugUnsupportedError, match="does not measure energy"):
        await probe_plug("127.0.0.1", ACCOUNT, port=nas.port, request_timeout=1)


async def test_probe_where_no_plug_answers_discovery(
    plugs: list[TapoPlugSimulator],
) -> None:
    """No UDP answer: python-kasa tries every protocol on the default ports."""
    with pytest.raises(PlugUnreachableError, match="no Tapo plug answers"):
        await probe_plug("127.0.0.1", ACCOUNT, discovery_timeout=1, request_timeout=1)


async def test_probe_of_a_plug_too_slow_to_read(plugs: list[TapoPlugSimulator]) -> None:
    nas = plugs[0]
    await nas.start_discovery()
    nas.latency = 1.5
    with pytest.raises(PlugUnreachableError):
        await probe_plug("127.0.0.1", ACCOUNT, discovery_timeout=1, request_timeout=1)


async def test_energy_values_the_plug_cannot_give_are_unknown(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    """Firmware that fails get_emeter_data: the read works, the values are unknown."""
    nas = plugs[0]
    nas.failing_methods.add("get_emeter_data")
    reading = await client.read(plug_address(nas))
    assert reading.is_on is True
    assert reading.voltage is None
    assert reading.current is None


async def test_what_a_current_plug_measures(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    reading = await client.read(plug_address(plugs[0]))
    assert reading.measures == {
        "power", "voltage", "current", "energy_today", "energy_month", "rssi"
    }  # fmt: skip


async def test_a_plug_on_its_first_firmware_measures_no_voltage_or_current(
    client: PlugClient, socket_enabled: None
) -> None:
    """Energy monitoring version 1 (P110 1.0.x): no get_emeter_data, so neither."""
    old = TapoPlugSimulator(energy_monitoring=1, power_w=20.0, energy_today_wh=150)
    await old.start()
    try:
        reading = await client.read(plug_address(old))
        assert reading.measures == {
            "power", "energy_today", "energy_month", "rssi"
        }  # fmt: skip
        assert reading.voltage is None
        assert reading.current is None
        assert reading.power == pytest.approx(20.0)
        assert reading.energy_today == pytest.approx(0.15)
        assert reading.firmware == "1.0.7 Build 210629 Rel.174901"
        assert old.method_calls["get_emeter_data"] == 0, "python-kasa does not ask v1"
        _, probed = await probe_plug(
            "127.0.0.1", ACCOUNT, port=old.port, request_timeout=1
        )
        assert probed.measures == reading.measures
    finally:
        await old.stop()


async def test_a_failing_emeter_does_not_say_what_the_plug_lacks(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    """Version 2 whose get_emeter_data fails: unknown now, not missing for good."""
    nas = plugs[0]
    nas.failing_methods.add("get_emeter_data")
    assert (await client.read(plug_address(nas))).measures is None


async def test_reading_checks_the_mac(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    """Another plug at the address (DHCP gave it away) is not read as this one."""
    nas, router = plugs[0], plugs[1]
    with pytest.raises(PlugMismatchError, match="another device"):
        await client.read(plug_address(router), mac=nas.mac.lower())
    with pytest.raises(PlugMismatchError):
        await client.set_on(plug_address(router), False, mac=nas.mac.lower())
    assert router.is_on, "the wrong plug is not switched"
    reading = await client.read(plug_address(router), mac=router.mac.lower())
    assert reading.alias == "Router"
    reading = await client.set_on(plug_address(router), False, router.mac.lower())
    assert reading.is_on is False


async def test_find_addresses_finds_a_plug_that_moved(loopback_hosts: None) -> None:
    """Asked by MAC, without the account: where does each device answer now."""
    plug = TapoPlugSimulator(host="127.0.0.41", mac="48:22:54:00:00:41")
    await plug.start()
    try:
        await answer_discovery(plug)
        found = await find_addresses(target="127.0.0.41", discovery_timeout=1)
        assert found["48:22:54:00:00:41"].host == "127.0.0.41"
        old_port = plug.port
        await plug.move_to("127.0.0.42")
        assert await find_addresses(target="127.0.0.41", discovery_timeout=1) == {}
        found = await find_addresses(target="127.0.0.42", discovery_timeout=1)
        address = found["48:22:54:00:00:41"]
        assert address.host == "127.0.0.42"
        assert address.connection["http_port"] == old_port
        client = PlugClient(ACCOUNT, request_timeout=1)
        try:
            assert (await client.read(address, "48:22:54:00:00:41")).mac == (
                "48:22:54:00:00:41"
            )
        finally:
            await client.close()
    finally:
        await plug.stop()


async def test_a_device_without_energy_monitoring_measures_nothing(
    client: PlugClient, plugs: list[TapoPlugSimulator]
) -> None:
    nas = plugs[0]
    nas.components = [c for c in nas.components if c[0] != "energy_monitoring"]
    reading = await client.read(plug_address(nas))
    assert reading.measures == frozenset()
    assert reading.power is None
