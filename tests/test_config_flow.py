"""The config, reconfigure and options flows, against a NAS simulator on loopback."""

from __future__ import annotations

from typing import Any

from homeassistant.components.http import ApiConfig
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import (
    CONF_ACTIVE_ABOVE,
    CONF_FAST_HEARTBEAT_INTERVAL,
    CONF_HANDSHAKE_SECRET,
    CONF_HEARTBEAT_INTERVAL,
    CONF_INBOX_FOLDER,
    CONF_NAS_IP,
    CONF_NAS_MAC,
    CONF_NAS_PLUG,
    CONF_NAS_URL,
    CONF_PI_IP,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_POWER_OFF_BELOW,
    CONF_STANDBY_MAX,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from simulators.baluhost import BaluHostSimulator, NasMode

from .conftest import NAS_MAC, PI_IP, SECRET, entry_data, skip_dns_and_inbox

# The options an entry without plugs offers: all but the choice of the NAS plug.
NUMBER_OPTIONS = {k: v for k, v in DEFAULT_OPTIONS.items() if k != CONF_NAS_PLUG}


def user_input(nas: BaluHostSimulator, **changes: str) -> dict[str, str]:
    values = {
        CONF_NAS_URL: nas.url,
        CONF_NAS_MAC: NAS_MAC,
        CONF_PI_IP: PI_IP,
    }
    values.update(changes)
    return values


async def start(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def submit(
    hass: HomeAssistant, result: FlowResult, values: dict[str, Any] | None = None
) -> FlowResult:
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], values or {}
    )


async def without_plugs(
    hass: HomeAssistant, result: FlowResult, answer: dict[str, Any] | None = None
) -> FlowResult:
    """Confirm the NAS page, then set BaluPi up without a Tapo account."""
    result = await submit(hass, result, answer)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tapo"
    return await skip_dns_and_inbox(hass, await submit(hass, result))


async def test_user_flow_generates_a_secret_and_shows_it_once(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """A reachable NAS: its version, the URL and a fresh 48-character secret are shown."""
    result = await submit(hass, await start(hass), user_input(nas))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "nas_reachable"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    secret = placeholders["secret"]
    assert len(secret) == 48
    assert placeholders["version"] == nas.version
    assert placeholders["nas_url"] == nas.url
    assert placeholders["balupi_url"] == f"http://{PI_IP}:8123"

    result = await without_plugs(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "BaluHost 127.0.0.1"
    data = dict(result["data"])
    webhooks = {
        data.pop(CONF_WEBHOOK_GOING_OFFLINE),
        data.pop(CONF_WEBHOOK_COMING_ONLINE),
    }
    assert data == {
        CONF_NAS_URL: nas.url,
        CONF_NAS_IP: "127.0.0.1",
        CONF_NAS_MAC: NAS_MAC,
        CONF_PI_IP: PI_IP,
        CONF_HANDSHAKE_SECRET: secret,
        CONF_PIHOLE_URL: "",
        CONF_PIHOLE_PASSWORD: "",
        CONF_INBOX_FOLDER: "",
    }
    # Two different, unguessable webhook IDs, shown with the secret.
    assert len(webhooks) == 2
    assert all(len(webhook_id) == 64 for webhook_id in webhooks)
    assert placeholders["webhook_going_offline"] in webhooks
    assert result["options"] == DEFAULT_OPTIONS
    assert not result["result"].subentries
    entry = result["result"]
    assert entry.unique_id == NAS_MAC
    assert entry.state is ConfigEntryState.LOADED


async def test_second_flow_for_the_same_nas_is_refused_while_the_first_runs(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    first = await submit(hass, await start(hass), user_input(nas))
    assert first["step_id"] == "nas_reachable"
    second = await submit(hass, await start(hass), user_input(nas))
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


async def test_user_flow_normalizes_what_the_user_typed(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """Upper-case dashed MAC, trailing slash, pasted secret with spaces: all stored clean."""
    result = await submit(
        hass,
        await start(hass),
        {
            CONF_NAS_URL: f" {nas.url}/ ",
            CONF_NAS_IP: " 127.0.0.1 ",
            CONF_NAS_MAC: "AA-BB-CC-00-11-22",
            CONF_PI_IP: f"{PI_IP} ",
            CONF_HANDSHAKE_SECRET: f"  {SECRET}\n",
        },
    )
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["secret"] == SECRET
    result = await without_plugs(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert {
        key: result["data"][key]
        for key in (CONF_NAS_URL, CONF_NAS_IP, CONF_NAS_MAC, CONF_PI_IP)
    } == {
        CONF_NAS_URL: nas.url,
        CONF_NAS_IP: "127.0.0.1",
        CONF_NAS_MAC: NAS_MAC,
        CONF_PI_IP: PI_IP,
    }
    assert result["data"][CONF_HANDSHAKE_SECRET] == SECRET


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({CONF_NAS_URL: "192.168.178.53:8000"}, CONF_NAS_URL, "invalid_url"),
        ({CONF_NAS_URL: "ftp://192.168.178.53"}, CONF_NAS_URL, "invalid_url"),
        ({CONF_NAS_URL: "http://192.168.178.53:8000/api"}, CONF_NAS_URL, "invalid_url"),
        ({CONF_NAS_URL: "http://192.168.178.53:99999"}, CONF_NAS_URL, "invalid_url"),
        ({CONF_NAS_URL: "http://nas.fritz.box:8000"}, CONF_NAS_IP, "nas_ip_required"),
        ({CONF_NAS_IP: "192.168.178.300"}, CONF_NAS_IP, "invalid_ip"),
        ({CONF_PI_IP: "raspberrypi.local"}, CONF_PI_IP, "invalid_ip"),
        ({CONF_NAS_MAC: "aa:bb:cc:dd:ee"}, CONF_NAS_MAC, "invalid_mac"),
        ({CONF_NAS_MAC: "ff:ff:ff:ff:ff:ff"}, CONF_NAS_MAC, "invalid_mac"),
        ({CONF_HANDSHAKE_SECRET: "x" * 31}, CONF_HANDSHAKE_SECRET, "secret_too_short"),
    ],
)
async def test_user_flow_field_errors_then_recovery(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    changes: dict[str, str],
    field: str,
    error: str,
) -> None:
    """A malformed field is named with a translated error; fixing it goes on."""
    result = await submit(hass, await start(hass), user_input(nas, **changes))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {field: error}
    assert nas.health_requests == 0, "nothing is probed before the form is valid"

    result = await submit(hass, result, user_input(nas))
    assert result["step_id"] == "nas_reachable"
    assert (await without_plugs(hass, result))["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_reports_every_bad_field_at_once(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    result = await submit(
        hass,
        await start(hass),
        {CONF_NAS_URL: "nas", CONF_NAS_MAC: "nope", CONF_PI_IP: "pi"},
    )
    assert result["errors"] == {
        CONF_NAS_URL: "invalid_url",
        CONF_NAS_MAC: "invalid_mac",
        CONF_PI_IP: "invalid_ip",
    }


@pytest.mark.usefixtures("real_resolver")
# "localhost" resolves to ::1 too; the harness blocks it (\x3a = ":", which the filter
# syntax reserves) and the client falls back to 127.0.0.1.
@pytest.mark.filterwarnings(
    r'ignore:A test tried to use socket\.socket\.connect\(\) with host "\x3a\x3a1"'
)
async def test_host_name_url_with_explicit_ip(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """A URL with a host name is fine when the IP is given; the URL is kept as typed."""
    url = f"http://localhost:{nas.port}"
    result = await submit(
        hass, await start(hass), user_input(nas, nas_url=url, nas_ip="127.0.0.1")
    )
    assert result["step_id"] == "nas_reachable"
    result = await without_plugs(hass, result)
    assert result["data"][CONF_NAS_URL] == url
    assert result["data"][CONF_NAS_IP] == "127.0.0.1"


async def test_unreachable_nas_can_be_saved_anyway(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """An asleep NAS is no reason to refuse the setup; the reason is reported."""
    await nas.set_mode(NasMode.REFUSED)
    result = await submit(hass, await start(hass), user_input(nas))

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "nas_unreachable"
    assert result["menu_options"] == ["probe_again", "finish"]
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["error"] == "connection refused"
    assert len(result["description_placeholders"]["secret"]) == 48

    result = await without_plugs(hass, result, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_NAS_MAC] == NAS_MAC


@pytest.mark.usefixtures("fast_timeout")
async def test_probe_again_after_the_nas_woke_up(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """A silent NAS times out; once it answers, "try again" shows it reachable."""
    await nas.set_mode(NasMode.SILENT)
    result = await submit(hass, await start(hass), user_input(nas))
    assert result["step_id"] == "nas_unreachable"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["error"] == "no reply within 0.2 s"
    secret = result["description_placeholders"]["secret"]

    result = await submit(hass, result, {"next_step_id": "probe_again"})
    assert result["step_id"] == "nas_unreachable", "still silent"

    await nas.set_mode(NasMode.UP)
    result = await submit(hass, result, {"next_step_id": "probe_again"})
    assert result["step_id"] == "nas_reachable"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["secret"] == secret, "same secret"
    result = await without_plugs(hass, result)
    assert result["data"][CONF_HANDSHAKE_SECRET] == secret


async def test_nas_answering_http_500_is_reported(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    await nas.set_mode(NasMode.ERROR)
    result = await submit(hass, await start(hass), user_input(nas))
    assert result["step_id"] == "nas_unreachable"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["error"] == "HTTP 500"


async def test_same_nas_twice_is_aborted(
    hass: HomeAssistant, nas: BaluHostSimulator, config_entry: MockConfigEntry
) -> None:
    """The MAC identifies the NAS, in whatever notation it is typed."""
    config_entry.add_to_hass(hass)
    result = await submit(
        hass, await start(hass), user_input(nas, nas_mac="AABB.CC00.1122")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert nas.health_requests == 0


async def test_pi_ip_is_suggested_and_balupi_url_uses_home_assistants_port(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """The form proposes the address Home Assistant runs on; the NAS URL uses its port."""
    assert await async_setup_component(hass, "http", {})
    hass.config.api = ApiConfig("192.168.178.77", "0.0.0.0", 8443, True)  # noqa: S104
    result = await start(hass)
    schema = result["data_schema"]
    assert schema is not None
    suggested = {
        str(key): key.description["suggested_value"]
        for key in schema.schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested == {CONF_PI_IP: "192.168.178.77"}

    result = await submit(hass, result, user_input(nas, pi_ip="192.168.178.77"))
    assert result["description_placeholders"] is not None
    assert (
        result["description_placeholders"]["balupi_url"]
        == "https://192.168.178.77:8443"
    )


async def test_ipv6_pi_address_is_bracketed_in_the_url(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    result = await submit(hass, await start(hass), user_input(nas, pi_ip="fd00::20"))
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["balupi_url"] == "http://[fd00::20]:8123"


async def test_no_suggestion_when_home_assistant_only_knows_loopback(
    hass: HomeAssistant,
) -> None:
    assert await async_setup_component(hass, "http", {})
    hass.config.api = ApiConfig("127.0.0.1", "0.0.0.0", 8123, False)  # noqa: S104
    result = await start(hass)
    schema = result["data_schema"]
    assert schema is not None
    assert not any(
        key.description and "suggested_value" in key.description
        for key in schema.schema
    )


async def _reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    return result


async def test_reconfigure_changes_addresses_and_keeps_the_secret(
    hass: HomeAssistant, nas: BaluHostSimulator, loaded_entry: MockConfigEntry
) -> None:
    """The NAS moved to another port; an empty secret field keeps the secret."""
    moved = BaluHostSimulator()
    await moved.start()
    try:
        result = await _reconfigure(hass, loaded_entry)
        assert result["description_placeholders"] == {"nas_mac": NAS_MAC}
        result = await submit(
            hass,
            result,
            {CONF_NAS_URL: moved.url, CONF_PI_IP: "192.168.178.21"},
        )
        assert result["step_id"] == "nas_reachable"
        assert result["description_placeholders"] is not None
        assert result["description_placeholders"]["secret"] == SECRET
        result = await skip_dns_and_inbox(hass, await submit(hass, result))
        await hass.async_block_till_done()

        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert loaded_entry.data == {
            **entry_data(nas),
            CONF_NAS_URL: moved.url,
            CONF_PI_IP: "192.168.178.21",
            CONF_PIHOLE_URL: "",
            CONF_PIHOLE_PASSWORD: "",
            CONF_INBOX_FOLDER: "",
        }
        assert loaded_entry.state is ConfigEntryState.LOADED
        assert loaded_entry.runtime_data.connection.nas_url == moved.url
    finally:
        await moved.stop()


async def test_reconfigure_sets_a_new_secret_even_when_the_nas_sleeps(
    hass: HomeAssistant, nas: BaluHostSimulator, loaded_entry: MockConfigEntry
) -> None:
    new_secret = "n" * 40
    await nas.set_mode(NasMode.REFUSED)
    result = await _reconfigure(hass, loaded_entry)
    result = await submit(
        hass,
        result,
        {
            CONF_NAS_URL: "http://[::1]:1",
            CONF_HANDSHAKE_SECRET: "short",
            CONF_PI_IP: PI_IP,
        },
    )
    assert result["errors"] == {CONF_HANDSHAKE_SECRET: "secret_too_short"}

    result = await submit(
        hass,
        result,
        {
            CONF_NAS_URL: nas.url,
            CONF_PI_IP: PI_IP,
            CONF_HANDSHAKE_SECRET: new_secret,
        },
    )
    assert result["step_id"] == "nas_unreachable"
    result = await submit(hass, result, {"next_step_id": "finish"})
    result = await skip_dns_and_inbox(hass, result)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_HANDSHAKE_SECRET] == new_secret
    assert loaded_entry.unique_id == NAS_MAC


async def test_options_flow_stores_typed_values_and_reloads(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    values = {**NUMBER_OPTIONS, CONF_HEARTBEAT_INTERVAL: 60.0, CONF_ACTIVE_ABOVE: 40.5}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], values
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options[CONF_HEARTBEAT_INTERVAL] == 60
    assert isinstance(loaded_entry.options[CONF_HEARTBEAT_INTERVAL], int)
    assert loaded_entry.options[CONF_ACTIVE_ABOVE] == 40.5
    heartbeat = loaded_entry.runtime_data.nas
    assert heartbeat.update_interval is not None
    assert heartbeat.update_interval.total_seconds() == 60


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({CONF_POWER_OFF_BELOW: 15.0, CONF_STANDBY_MAX: 15.0}, "thresholds_order"),
        ({CONF_STANDBY_MAX: 40.0, CONF_ACTIVE_ABOVE: 30.0}, "thresholds_order"),
        (
            {CONF_FAST_HEARTBEAT_INTERVAL: 30.0, CONF_HEARTBEAT_INTERVAL: 30.0},
            "fast_not_faster",
        ),
        ({"wol_broadcast": "fd00::ff"}, "invalid_broadcast"),
        ({"wol_broadcast": "nas.local"}, "invalid_broadcast"),
    ],
)
async def test_options_flow_rejects_contradictions_then_recovers(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    changes: dict[str, Any],
    error: str,
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**NUMBER_OPTIONS, **changes}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], dict(NUMBER_OPTIONS)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == DEFAULT_OPTIONS


def _other_nas(nas: BaluHostSimulator, secret: str) -> MockConfigEntry:
    """A second NAS's entry (another MAC) with the handshake secret ``secret``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost in the office",
        unique_id="aa:bb:cc:00:11:99",
        data={
            **entry_data(nas),
            CONF_NAS_MAC: "aa:bb:cc:00:11:99",
            "handshake_secret": secret,
        },
        options=dict(DEFAULT_OPTIONS),
        minor_version=2,
    )


async def test_a_secret_another_entry_uses_is_refused(
    hass: HomeAssistant, nas: BaluHostSimulator
) -> None:
    """Each NAS needs its own secret: the second NAS may not take the first's."""
    _other_nas(nas, SECRET).add_to_hass(hass)
    result = await submit(
        hass, await start(hass), user_input(nas, **{CONF_HANDSHAKE_SECRET: SECRET})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_HANDSHAKE_SECRET: "secret_in_use"}
    assert result["step_id"] == "user"

    own = "o" * 40
    result = await submit(hass, result, user_input(nas, **{CONF_HANDSHAKE_SECRET: own}))
    result = await without_plugs(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HANDSHAKE_SECRET] == own


async def test_reconfigure_refuses_a_secret_another_entry_uses(
    hass: HomeAssistant, nas: BaluHostSimulator, loaded_entry: MockConfigEntry
) -> None:
    """Typing the other NAS's secret is refused; so is keeping a shared one."""
    theirs = "t" * 40
    _other_nas(nas, theirs).add_to_hass(hass)
    result = await _reconfigure(hass, loaded_entry)
    result = await submit(
        hass,
        result,
        {CONF_NAS_URL: nas.url, CONF_PI_IP: PI_IP, CONF_HANDSHAKE_SECRET: theirs},
    )
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {CONF_HANDSHAKE_SECRET: "secret_in_use"}
    # Its own secret stays acceptable.
    result = await submit(
        hass,
        result,
        {CONF_NAS_URL: nas.url, CONF_PI_IP: PI_IP, CONF_HANDSHAKE_SECRET: SECRET},
    )
    assert result["step_id"] == "nas_reachable"
    assert loaded_entry.data[CONF_HANDSHAKE_SECRET] == SECRET


async def test_reconfigure_asks_for_a_new_secret_when_the_kept_one_is_shared(
    hass: HomeAssistant, nas: BaluHostSimulator, loaded_entry: MockConfigEntry
) -> None:
    """Two entries that share a secret from before: leaving it empty is refused."""
    _other_nas(nas, SECRET).add_to_hass(hass)
    result = await _reconfigure(hass, loaded_entry)
    result = await submit(hass, result, {CONF_NAS_URL: nas.url, CONF_PI_IP: PI_IP})
    assert result["errors"] == {CONF_HANDSHAKE_SECRET: "secret_in_use"}
    new_secret = "n" * 40
    result = await submit(
        hass,
        result,
        {CONF_NAS_URL: nas.url, CONF_PI_IP: PI_IP, CONF_HANDSHAKE_SECRET: new_secret},
    )
    result = await skip_dns_and_inbox(hass, await submit(hass, result))
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_HANDSHAKE_SECRET] == new_secret
