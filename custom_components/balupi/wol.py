"""Wake-on-LAN: the magic packet, sent without blocking the event loop.

Plain Python, no Home Assistant. ``wakeonlan`` builds the packet (six ``FF`` bytes,
then the MAC 16 times); it is sent here on an asyncio datagram endpoint, because the
library's own sender is blocking.
"""

from __future__ import annotations

import asyncio
import socket

from wakeonlan import create_magic_packet

BROADCAST = "255.255.255.255"
PORT = 9


async def send_magic_packet(
    mac: str, *, broadcast: str = BROADCAST, port: int = PORT
) -> bytes:
    """Send the magic packet for ``mac`` to ``broadcast``:``port``; return it."""
    packet: bytes = create_magic_packet(mac)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, family=socket.AF_INET, allow_broadcast=True
    )
    try:
        transport.sendto(packet, (broadcast, port))
    finally:
        transport.close()
    return packet
