"""The simulated NAS's power states and its boot after a Wake-on-LAN packet."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from custom_components.balupi.nas_client import NasUnreachableError, fetch_health
from custom_components.balupi.wol import send_magic_packet
from simulators.baluhost import ACTIVE_W, OFF_W, STANDBY_W, BaluHostSimulator
from simulators.tapo import TapoPlugSimulator


@pytest.fixture
async def session(socket_enabled: None) -> aiohttp.ClientSession:
    async with aiohttp.ClientSession() as client:
        yield client  # type: ignore[misc]


async def test_power_states_drive_the_plug(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    plug = TapoPlugSimulator()
    nas.plug = plug
    await nas.sleep()
    assert plug.power_w == STANDBY_W
    with pytest.raises(NasUnreachableError):
        await fetch_health(session, nas.url, timeout=0.2)
    await nas.shut_down()
    assert plug.power_w == OFF_W
    await nas.run()
    assert plug.power_w == ACTIVE_W
    assert (await fetch_health(session, nas.url, timeout=1)).version == nas.version


async def test_a_magic_packet_boots_the_nas(
    session: aiohttp.ClientSession, nas: BaluHostSimulator
) -> None:
    plug = TapoPlugSimulator()
    nas.plug = plug
    nas.boot_time = 0.2
    await nas.shut_down()
    port = await nas.listen_for_wake_on_lan()

    await send_magic_packet("aa:bb:cc:99:99:99", broadcast="127.0.0.1", port=port)
    await send_magic_packet(nas.mac, broadcast="127.0.0.1", port=port)
    await asyncio.sleep(0.05)
    assert nas.wol_packets == 1, "only the packet for its own MAC counts"
    assert nas.woken_at is not None
    assert nas.up_at is None
    assert plug.power_w == STANDBY_W, "booting: firmware and disks first"
    with pytest.raises(NasUnreachableError):
        await fetch_health(session, nas.url, timeout=0.05)

    await asyncio.sleep(0.3)
    assert plug.power_w == ACTIVE_W
    assert nas.up_at is not None
    assert nas.up_at - nas.woken_at >= 0.2
    assert (await fetch_health(session, nas.url, timeout=1)).version == nas.version
