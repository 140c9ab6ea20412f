"""The config flow's Pi-hole step, against the Pi-hole simulator on loopback."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import (
    CONF_DNS_HOSTNAME,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    DOMAIN,
)
from simulators.baluhost import BaluHostSimulator
from simulators.pihole import PiholeMode, PiholeSimulator

from .conftest import NAS_MAC, PI_IP, PIHOLE_PASSWORD, Serve

DNS_SENSOR = "sensor.balupi_dns_points_to"
NAS_STATE = "sensor.baluhost_nas_state"


async def to_pihole_step(hass: HomeAssistant, nas: BaluHostSimulator) -> FlowResult:
    """Walk a new entry to the Pi-hole step (NAS answers, no plugs)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    for values in ({"nas_url": nas.url, "nas_mac": NAS_MAC, "pi_ip": PI_IP}, {}, {}):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], values
        )
    assert result["step_id"] == "pihole"
    return result


async def configure(
    hass: HomeAssistant, result: FlowResult, values: dict[str, Any]
) -> FlowResult:
    return await hass.config_entries.flow.async_configure(result["flow_id"], values)


async def test_pihole_step_checks_the_password_and_stores_it(
    hass: HomeAssistant, nas: BaluHostSimulator, pihole: PiholeSimulator
) -> None:
    """The admin page's URL is forgiven; the session is ended after the check."""
    result = await to_pihole_step(hass, nas)
    assert result["description_placeholders"] == {"nas_ip": nas.host, "pi_ip": PI_IP}
    result = await configure(
        hass,
        result,
        {
            CONF_PIHOLE_URL: f"{pihole.url}/admin/",
            CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD,
            CONF_DNS_HOSTNAME: "NAS.home",
        },
    )
    assert result["step_id"] == "inbox"
    assert pihole.active_sessions == 0
    result = await configure(hass, result, {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PIHOLE_URL] == pihole.url
    assert result["data"][CONF_PIHOLE_PASSWORD] == PIHOLE_PASSWORD
    assert result["data"][CONF_DNS_HOSTNAME] == "nas.home"
    # The new entry points the name at the NAS, which is online.
    assert f"{nas.host} nas.home" in pihole.hosts


@pytest.mark.parametrize(
    ("change", "values", "errors"),
    [
        pytest.param(
            None, {CONF_PIHOLE_PASSWORD: "wrong"},
            {CONF_PIHOLE_PASSWORD: "pihole_auth"}, id="wrong-password",
        ),
        pytest.param(
            "app", {CONF_PIHOLE_PASSWORD: "app-password"},
            {"base": "pihole_read_only"}, id="app-password-without-app-sudo",
        ),
        pytest.param(
            "seats", {}, {"base": "pihole_seats"}, id="no-free-seat",
        ),
        pytest.param(
            "rate", {}, {"base": "pihole_rate_limit"}, id="rate-limited",
        ),
        pytest.param(
            "refused", {}, {CONF_PIHOLE_URL: "pihole_unreachable"}, id="refused",
        ),
        pytest.param(
            None, {CONF_PIHOLE_URL: "ftp://pi.hole"},
            {CONF_PIHOLE_URL: "invalid_url"}, id="bad-url",
        ),
        pytest.param(
            None, {CONF_DNS_HOSTNAME: "bad name"},
            {CONF_DNS_HOSTNAME: "invalid_hostname"}, id="bad-hostname",
        ),
    ],
)  # fmt: skip
async def test_pihole_step_errors_then_recovery(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    pihole: PiholeSimulator,
    change: str | None,
    values: dict[str, str],
    errors: dict[str, str],
) -> None:
    """Each problem is named where the user can fix it; fixed, the flow goes on."""
    pihole.app_password = "app-password"
    if change == "seats":
        pihole.max_sessions = 0
    elif change == "rate":
        pihole.rate_limited = True
    elif change == "refused":
        await pihole.set_mode(PiholeMode.REFUSED)
    result = await to_pihole_step(hass, nas)
    result = await configure(
        hass,
        result,
        {CONF_PIHOLE_URL: pihole.url, CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD, **values},
    )
    assert result["step_id"] == "pihole"
    assert result["errors"] == errors
    schema = result["data_schema"]
    assert schema is not None
    assert CONF_PIHOLE_PASSWORD not in {
        str(key)
        for key in schema.schema
        if key.description and "suggested_value" in key.description
    }, "the password is not sent back to the browser"

    pihole.max_sessions, pihole.rate_limited, pihole.app_sudo = 16, False, True
    await pihole.set_mode(PiholeMode.UP)
    result = await configure(
        hass,
        result,
        {
            CONF_PIHOLE_URL: pihole.url,
            CONF_PIHOLE_PASSWORD: values.get(CONF_PIHOLE_PASSWORD, PIHOLE_PASSWORD)
            if change == "app"
            else PIHOLE_PASSWORD,
        },
    )
    assert result["step_id"] == "inbox"


async def test_something_that_is_not_pihole_v6(
    hass: HomeAssistant, nas: BaluHostSimulator, peer: Serve
) -> None:
    """A Pi-hole v5 (or any web server) answering HTML is named as not v6."""

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>Pi-hole v5</html>", content_type="text/html")

    url = await peer({("POST", "/api/auth"): html})
    result = await to_pihole_step(hass, nas)
    result = await configure(
        hass, result, {CONF_PIHOLE_URL: url, CONF_PIHOLE_PASSWORD: "x"}
    )
    assert result["errors"] == {CONF_PIHOLE_URL: "pihole_not_v6"}


async def test_reconfigure_keeps_the_pihole_password_and_can_drop_the_pihole(
    hass: HomeAssistant,
    loaded_dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
) -> None:
    """An empty password field keeps the stored one; an empty URL turns DNS off."""
    assert hass.states.get("sensor.balupi_dns_points_to") is not None

    for url, expected in ((pihole.url, pihole.url), ("", "")):
        result = await loaded_dns_entry.start_reconfigure_flow(hass)
        result = await configure(
            hass, result, {"nas_url": loaded_dns_entry.data["nas_url"], "pi_ip": PI_IP}
        )
        result = await configure(hass, result, {})
        assert result["step_id"] == "pihole"
        result = await configure(hass, result, {CONF_PIHOLE_URL: url})
        assert result["step_id"] == "inbox"
        result = await configure(hass, result, {})
        await hass.async_block_till_done()
        assert result["reason"] == "reconfigure_successful"
        assert loaded_dns_entry.data[CONF_PIHOLE_URL] == expected
        if url:
            assert loaded_dns_entry.data[CONF_PIHOLE_PASSWORD] == PIHOLE_PASSWORD
    assert loaded_dns_entry.runtime_data.nas.dns is None
    assert hass.states.get("sensor.balupi_dns_points_to") is None


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
        and flow["context"]["entry_id"] == entry.entry_id
    ]


async def test_setup_with_a_rejected_pihole_password_asks_for_a_new_one(
    hass: HomeAssistant, dns_entry: MockConfigEntry, pihole: PiholeSimulator
) -> None:
    """test-before-setup: the stored password is refused, so setup fails with reauth.

    The reauth form asks for the Pi-hole's password, checks it against the Pi-hole
    (a wrong one is named on the field) and loads the entry with the right one.
    """
    pihole.password = "changed-in-pihole"
    dns_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(dns_entry.entry_id)
    await hass.async_block_till_done()
    assert dns_entry.state is ConfigEntryState.SETUP_ERROR
    assert dns_entry.reason == f"The Pi-hole at {pihole.url} rejected BaluPi's password"
    flows = reauth_flows(hass, dns_entry)
    assert len(flows) == 1
    assert flows[0]["step_id"] == "reauth_pihole"

    flow_id = flows[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD}
    )
    assert result["errors"] == {CONF_PIHOLE_PASSWORD: "pihole_auth"}
    assert result["description_placeholders"]["url"] == pihole.url
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PIHOLE_PASSWORD: "changed-in-pihole"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert dns_entry.data[CONF_PIHOLE_PASSWORD] == "changed-in-pihole"
    assert dns_entry.data[CONF_PIHOLE_URL] == pihole.url
    assert dns_entry.state is ConfigEntryState.LOADED
    assert hass.states.get(DNS_SENSOR).state == "nas"  # type: ignore[union-attr]


async def test_a_pihole_password_that_stops_working_starts_reauth(
    hass: HomeAssistant, loaded_dns_entry: MockConfigEntry, pihole: PiholeSimulator
) -> None:
    """At run time the NAS's side carries on; one reauth flow asks for the password."""
    pihole.password = "changed"
    pihole.expire_sessions()
    nas = loaded_dns_entry.runtime_data.nas
    for _ in range(2):
        await nas.async_refresh()
        await hass.async_block_till_done()
    assert loaded_dns_entry.state is ConfigEntryState.LOADED
    assert hass.states.get(NAS_STATE).state == "online"  # type: ignore[union-attr]
    flows = reauth_flows(hass, loaded_dns_entry)
    assert [flow["step_id"] for flow in flows] == ["reauth_pihole"]
    # No repair issue besides: the reauth is what the user acts on.
    assert not [
        issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    ]

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_PIHOLE_PASSWORD: "changed"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert loaded_dns_entry.data[CONF_PIHOLE_PASSWORD] == "changed"
    assert loaded_dns_entry.state is ConfigEntryState.LOADED
    assert not loaded_dns_entry.runtime_data.nas.dns.rejected  # type: ignore[union-attr]


async def test_setup_goes_on_without_a_pihole_that_does_not_answer(
    hass: HomeAssistant, dns_entry: MockConfigEntry, pihole: PiholeSimulator
) -> None:
    """An unreachable Pi-hole fails nothing: the NAS's features work without it."""
    await pihole.set_mode(PiholeMode.REFUSED)
    dns_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(dns_entry.entry_id)
    await hass.async_block_till_done()
    assert dns_entry.state is ConfigEntryState.LOADED
    assert hass.states.get(NAS_STATE).state == "online"  # type: ignore[union-attr]
    assert not reauth_flows(hass, dns_entry)
    # It comes back: the next heartbeat puts the record where the state wants it.
    await pihole.set_mode(PiholeMode.UP)
    await dns_entry.runtime_data.nas.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(DNS_SENSOR).state == "nas"  # type: ignore[union-attr]


async def test_pihole_reauth_names_a_pihole_that_does_not_answer(
    hass: HomeAssistant, loaded_dns_entry: MockConfigEntry, pihole: PiholeSimulator
) -> None:
    """Started by hand (an entry without a Tapo account): the Pi-hole's password."""
    result = await loaded_dns_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_pihole"
    await pihole.set_mode(PiholeMode.REFUSED)
    result = await configure(hass, result, {CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD})
    assert result["errors"] == {"base": "pihole_unreachable"}
    await pihole.set_mode(PiholeMode.UP)
    result = await configure(hass, result, {CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD})
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"


async def test_with_a_tapo_account_too_the_pihole_password_is_asked(
    hass: HomeAssistant,
    plug_entry: MockConfigEntry,
    pihole: PiholeSimulator,
) -> None:
    """An entry with plugs and a Pi-hole: the reauth asks for what was rejected."""
    plug_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        plug_entry,
        data={
            **plug_entry.data,
            CONF_PIHOLE_URL: pihole.url,
            CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD,
        },
    )
    assert await hass.config_entries.async_setup(plug_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    pihole.password = "changed"
    pihole.expire_sessions()
    await plug_entry.runtime_data.nas.async_refresh()
    await hass.async_block_till_done()
    assert [flow["step_id"] for flow in reauth_flows(hass, plug_entry)] == [
        "reauth_pihole"
    ]
    # Started without saying what (as a plug's poll does): the Tapo account.
    hass.config_entries.flow.async_abort(reauth_flows(hass, plug_entry)[0]["flow_id"])
    result = await plug_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
