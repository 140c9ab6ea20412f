"""The NAS found by its mDNS announcement (``_baluhost._tcp``), as BaluHost sends it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_ZEROCONF
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi import net
from custom_components.balupi.const import (
    CONF_NAS_HOSTNAME,
    CONF_NAS_IP,
    CONF_NAS_MAC,
    CONF_NAS_URL,
    CONF_PI_IP,
    DOMAIN,
)
from simulators.baluhost import BaluHostSimulator

from .conftest import NAS_MAC, PI_IP, skip_dns_and_inbox

OTHER_MAC = "aa:bb:cc:99:99:99"
ARP_HEADER = (
    "IP address       HW type     Flags       HW address            Mask     Device\n"
)

type Neighbour = Callable[..., None]


@pytest.fixture(autouse=True)
def neighbours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Neighbour:
    """The Pi's neighbour table (/proc/net/arp), empty until a test fills it."""
    table = tmp_path / "arp"
    table.write_text(ARP_HEADER)
    monkeypatch.setattr(net, "ARP_TABLE", table)

    def add(ip: str, mac: str, flags: str = "0x2") -> None:
        with table.open("a") as file:
            file.write(f"{ip:<16} 0x1         {flags:<11} {mac}     *        eth0\n")

    return add


def announcement(
    host: str, port: int, *, hostname: str = "baluhost", api: str | None = None
) -> ZeroconfServiceInfo:
    """What BaluHost announces: ``BaluHost on <hostname>`` with its TXT record."""
    properties: dict[str, Any] = {
        "version": "1.15.6",
        "hostname": hostname,
        "webdav": f"https://{host}:8443",
        "description": "BaluHost NAS",
    }
    if api is not None:
        properties["api"] = api
    return ZeroconfServiceInfo(
        ip_address=ip_address(host),
        ip_addresses=[ip_address(host)],
        port=port,
        hostname=f"{hostname}.local.",
        type="_baluhost._tcp.local.",
        name=f"BaluHost on {hostname}._baluhost._tcp.local.",
        properties=properties,
    )


async def discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> Any:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )


def suggested(result: Any) -> dict[str, Any]:
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


async def test_a_discovered_nas_is_offered_with_its_address(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """The form comes filled from the announcement; the MAC is still asked."""
    result = await discover(hass, announcement(nas.host, nas.port, api=nas.url))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert suggested(result)[CONF_NAS_URL] == nas.url
    assert suggested(result)[CONF_NAS_IP] == nas.host
    flows = hass.config_entries.flow.async_progress()
    assert flows[0]["context"]["title_placeholders"] == {"name": "baluhost"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_NAS_URL: nas.url, CONF_NAS_MAC: NAS_MAC, CONF_PI_IP: PI_IP},
    )
    assert result["step_id"] == "nas_reachable"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await skip_dns_and_inbox(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_NAS_HOSTNAME] == "baluhost"


async def test_an_announcement_without_a_usable_api_url(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """No (or a broken) ``api`` entry: the announced address and port are used."""
    for api in (None, "not a url"):
        result = await discover(hass, announcement(nas.host, nas.port, api=api))
        assert suggested(result)[CONF_NAS_URL] == f"http://{nas.host}:{nas.port}"
        hass.config_entries.flow.async_abort(result["flow_id"])


async def test_a_nas_that_is_set_up_is_not_offered_again(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    neighbours: Neighbour,
) -> None:
    """Same MAC: aborted, and its host name is kept."""
    neighbours(nas.host, NAS_MAC.upper())
    result = await discover(hass, announcement(nas.host, nas.port, hostname="cellar"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert loaded_entry.data[CONF_NAS_HOSTNAME] == "cellar"
    # Announced again unchanged: nothing to update.
    result = await discover(hass, announcement(nas.host, nas.port, hostname="cellar"))
    assert result["reason"] == "already_configured"


async def test_a_nas_that_moved_is_followed(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    neighbours: Neighbour,
) -> None:
    """The NAS got another address from DHCP: the entry follows its announcement.

    Recognised by its MAC, read from the neighbour table for the announced address.
    """
    neighbours(nas.host, NAS_MAC)
    hass.config_entries.async_update_entry(
        loaded_entry,
        data={
            **loaded_entry.data,
            CONF_NAS_HOSTNAME: "cellar",
            CONF_NAS_IP: "10.0.0.9",
        },
    )
    await hass.async_block_till_done()
    result = await discover(
        hass, announcement(nas.host, nas.port, hostname="cellar", api=nas.url)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert loaded_entry.data[CONF_NAS_IP] == nas.host
    assert loaded_entry.data[CONF_NAS_URL] == nas.url
    assert loaded_entry.runtime_data.connection.nas_ip == nas.host


async def test_another_nas_is_offered_beside_one_set_up(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    neighbours: Neighbour,
) -> None:
    """A second NAS (other MAC) is not mistaken for the first; its MAC is filled in."""
    neighbours("192.168.178.54", OTHER_MAC)
    result = await discover(
        hass, announcement("192.168.178.54", 8000, hostname="garage", api=None)
    )
    assert result["type"] is FlowResultType.FORM
    assert suggested(result)[CONF_NAS_IP] == "192.168.178.54"
    assert suggested(result)[CONF_NAS_MAC] == OTHER_MAC
    assert CONF_NAS_HOSTNAME not in loaded_entry.data


async def test_an_ignored_nas_is_not_offered_again(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    result = await discover(hass, announcement(nas.host, nas.port, hostname="attic"))
    await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": "ignore"},
        data={"unique_id": "mdns_attic", "title": "attic"},
    )
    assert not hass.config_entries.flow.async_progress()
    result = await discover(hass, announcement(nas.host, nas.port, hostname="attic"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_a_nas_of_unknown_mac_elsewhere_is_offered(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, nas: BaluHostSimulator
) -> None:
    """No MAC, but neither the host name nor the address of an entry: offered."""
    hass.config_entries.async_update_entry(
        loaded_entry,
        data={
            **loaded_entry.data,
            CONF_NAS_HOSTNAME: "cellar",
            CONF_NAS_IP: "10.0.0.9",
        },
    )
    result = await discover(hass, announcement(nas.host, nas.port, hostname="garage"))
    assert result["type"] is FlowResultType.FORM
    assert CONF_NAS_MAC not in suggested(result)


async def test_another_nas_at_the_same_host_name_leaves_the_entry_alone(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    neighbours: Neighbour,
) -> None:
    """Same host name, another MAC: a new NAS, offered; the entry is not touched."""
    hass.config_entries.async_update_entry(
        loaded_entry,
        data={
            **loaded_entry.data,
            CONF_NAS_HOSTNAME: "cellar",
            CONF_NAS_IP: "10.0.0.9",
        },
    )
    before = dict(loaded_entry.data)
    neighbours(nas.host, OTHER_MAC)
    result = await discover(
        hass, announcement(nas.host, nas.port, hostname="cellar", api=nas.url)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.FORM
    assert suggested(result)[CONF_NAS_MAC] == OTHER_MAC
    assert dict(loaded_entry.data) == before


async def test_a_nas_whose_mac_cannot_be_read_moves_no_entry(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    neighbours: Neighbour,
) -> None:
    """Not sure it is the same NAS (no MAC for the address): nothing is updated.

    Nor offered again while an entry has its host name or address.
    """
    hass.config_entries.async_update_entry(
        loaded_entry,
        data={
            **loaded_entry.data,
            CONF_NAS_HOSTNAME: "cellar",
            CONF_NAS_IP: "10.0.0.9",
        },
    )
    before = dict(loaded_entry.data)
    neighbours(nas.host, "00:00:00:00:00:00", flags="0x0")  # never resolved
    result = await discover(
        hass, announcement(nas.host, nas.port, hostname="cellar", api=nas.url)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert dict(loaded_entry.data) == before


async def test_a_nas_heard_only_by_multicast_is_looked_up_after_a_connection(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    neighbours: Neighbour,
) -> None:
    """Not in the table yet: a connection to the announced port makes the kernel
    resolve it (here the fake NAS puts itself in the table when connected to)."""
    hass.config_entries.async_update_entry(
        loaded_entry, data={**loaded_entry.data, CONF_NAS_IP: "10.0.0.9"}
    )

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        neighbours("127.0.0.1", NAS_MAC)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await discover(hass, announcement("127.0.0.1", port))
        await hass.async_block_till_done()
    assert result["reason"] == "already_configured"
    assert loaded_entry.data[CONF_NAS_IP] == "127.0.0.1"
    assert loaded_entry.data[CONF_NAS_URL] == f"http://127.0.0.1:{port}"


async def test_an_ignored_nas_with_a_known_mac_is_not_offered_again(
    hass: HomeAssistant, nas: BaluHostSimulator, neighbours: Neighbour
) -> None:
    neighbours(nas.host, OTHER_MAC)
    await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": "ignore"},
        data={"unique_id": OTHER_MAC, "title": "attic"},
    )
    result = await discover(hass, announcement(nas.host, nas.port, hostname="attic"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("table", "ip", "expected"),
    [
        (ARP_HEADER + "127.0.0.1 0x1 0x2 AA-BB-CC-00-11-22 * eth0\n", "127.0.0.1", NAS_MAC),
        (ARP_HEADER + "127.0.0.10 0x1 0x2 aa:bb:cc:00:11:22 * eth0\n", "127.0.0.1", None),
        (ARP_HEADER + "127.0.0.1 0x1 0x2 ff:ff:ff:ff:ff:ff * eth0\n", "127.0.0.1", None),
        (ARP_HEADER + "127.0.0.1 0x1 0x2\n127.0.0.1 0x1 zz x * eth0\n", "127.0.0.1", None),
        (None, "127.0.0.1", None),
        (ARP_HEADER, "::1", None),
        (ARP_HEADER, "baluhost.local", None),
    ],
)  # fmt: skip
async def test_the_neighbour_table_gives_only_a_resolved_unicast_mac(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    socket_enabled: None,
    table: str | None,
    ip: str,
    expected: str | None,
) -> None:
    path = tmp_path / "neighbours"
    if table is not None:
        path.write_text(table)
    monkeypatch.setattr(net, "ARP_TABLE", path)
    monkeypatch.setattr(net, "NUDGE_TIMEOUT", 0.5)
    assert await net.async_mac_of(ip, 9) == expected
