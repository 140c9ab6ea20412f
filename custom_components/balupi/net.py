"""Network helpers (plain Python).

Short, user-facing reasons for failed HTTP connections, and the MAC address behind
an IP address on the Pi's own network.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from pathlib import Path

import aiohttp

from .validation import normalize_mac

ARP_TABLE = Path("/proc/net/arp")
"""The kernel's IPv4 neighbour table (readable in Home Assistant's container)."""
_ARP_COMPLETE = 0x2
NUDGE_TIMEOUT = 2.0


def connect_reason(err: aiohttp.ClientConnectorError) -> str:
    """Why a connection could not be made, in a few words.

    A TLS failure carries no OS error (a Pi-hole's own https certificate is
    self-signed, for example), so it is named before the OS error is read.
    """
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate not accepted (use http:// or a trusted certificate)"
    if isinstance(err, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(err.os_error, ConnectionRefusedError):
        return "connection refused"
    return f"cannot connect: {err.os_error.strerror or type(err.os_error).__name__}"


def mac_in_neighbour_table(ip: str) -> str | None:
    """The MAC address the kernel resolved ``ip`` to, or None (blocking).

    Only a machine on the Pi's own network is in the table (one behind a router is
    reached through the router's MAC, under the router's address), so a MAC found
    here is the announcing machine's own. IPv4 only: Linux has no IPv6 table file.
    """
    try:
        lines = ARP_TABLE.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[0] != ip:
            continue
        try:
            if not int(fields[2], 16) & _ARP_COMPLETE:
                return None  # still being resolved, or failed
            return normalize_mac(fields[3])
        except ValueError:
            return None
    return None


async def async_mac_of(ip: str, port: int) -> str | None:
    """The MAC address of the machine at ``ip`` on the local network, or None.

    A machine heard only through multicast (an mDNS announcement) is often not in
    the neighbour table yet: a connection attempt to ``port`` makes the kernel
    resolve it, then the table is read again.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version != 4:
        return None
    loop = asyncio.get_running_loop()
    if (
        mac := await loop.run_in_executor(None, mac_in_neighbour_table, ip)
    ) is not None:
        return mac
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(NUDGE_TIMEOUT):
            _, writer = await asyncio.open_connection(ip, port)
            writer.close()
            await writer.wait_closed()
    return await loop.run_in_executor(None, mac_in_neighbour_table, ip)
