"""Wake-on-LAN: the real UDP packet, received on loopback and checked byte for byte."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.balupi.wol import send_magic_packet


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.put_nowait(data)


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize("mac", ["aa:bb:cc:00:11:22", "AA-BB-CC-00-11-22"])
async def test_magic_packet_arrives_byte_for_byte(mac: str) -> None:
    loop = asyncio.get_running_loop()
    transport, receiver = await loop.create_datagram_endpoint(
        Receiver, local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        sent = await send_magic_packet(mac, broadcast="127.0.0.1", port=port)
        received = await asyncio.wait_for(receiver.packets.get(), 2)
    finally:
        transport.close()
    expected = b"\xff" * 6 + bytes.fromhex("aabbcc001122") * 16
    assert len(received) == 102
    assert received == expected
    assert sent == expected
