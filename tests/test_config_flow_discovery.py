"""The NAS found by its mDNS announcement (``_baluhost._tcp``), as BaluHost sends it."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from homeassistant.config_entries import SOURCE_ZEROCONF
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

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
    hass: HomeAssistant, loaded_entry: MockConfigEntry, nas: BaluHostSimulator
) -> None:
    """Same address: aborted, and its host name is kept to follow it later."""
    result = await discover(hass, announcement(nas.host, nas.port, hostname="cellar"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert loaded_entry.data[CONF_NAS_HOSTNAME] == "cellar"
    # Announced again unchanged: nothing to update.
    result = await discover(hass, announcement(nas.host, nas.port, hostname="cellar"))
    assert result["reason"] == "already_configured"


async def test_a_nas_that_moved_is_followed(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, nas: BaluHostSimulator
) -> None:
    """The NAS got another address from DHCP: the entry follows its announcement."""
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
    hass: HomeAssistant, loaded_entry: MockConfigEntry, nas: BaluHostSimulator
) -> None:
    """A second NAS (other address, other host name) is not mistaken for the first."""
    result = await discover(
        hass, announcement("192.168.178.54", 8000, hostname="garage", api=None)
    )
    assert result["type"] is FlowResultType.FORM
    assert suggested(result)[CONF_NAS_IP] == "192.168.178.54"
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
