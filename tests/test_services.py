"""BaluPi's actions: get_snapshot, switch_dns, flush_inbox (errors and results)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import DOMAIN
from simulators.baluhost import BaluHostSimulator
from simulators.nas_push import NasPushClient
from simulators.pihole import PiholeMode, PiholeSimulator
from simulators.snapshot import make_snapshot

from .conftest import PI_IP, SECRET, entry_data


async def call(
    hass: HomeAssistant, service: str, data: dict[str, str] | None = None
) -> dict[str, object] | None:
    return await hass.services.async_call(
        DOMAIN, service, data or {}, blocking=True, return_response=True
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def record(pihole: PiholeSimulator, name: str = "baluhost.local") -> list[str]:
    return [r for r in pihole.hosts if r.split()[1:] == [name]]


@pytest.mark.parametrize("service", ["get_snapshot", "switch_dns", "flush_inbox"])
async def test_what_an_entry_lacks_is_named(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, service: str
) -> None:
    """No snapshot yet, no Pi-hole, no inbox: each says so, translated."""
    data = {"target": "pi"} if service == "switch_dns" else {}
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, service, data)
    expected = {
        "get_snapshot": "no_snapshot",
        "switch_dns": "no_pihole",
        "flush_inbox": "no_inbox",
    }
    assert raised.value.translation_key == expected[service]


async def test_the_entry_is_chosen_or_named(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    nas: BaluHostSimulator,
) -> None:
    """One entry needs no ID; unknown, unloaded and ambiguous choices are refused."""
    for entry_id, key in (
        ("nope", "entry_not_found"),
        (loaded_entry.entry_id, "no_snapshot"),
    ):
        with pytest.raises(ServiceValidationError) as raised:
            await call(hass, "get_snapshot", {"config_entry_id": entry_id})
        assert raised.value.translation_key == key

    second = MockConfigEntry(
        domain=DOMAIN,
        unique_id="aa:bb:cc:00:11:33",
        data={
            **entry_data(nas),
            "nas_mac": "aa:bb:cc:00:11:33",
            "webhook_going_offline": "second-going-offline",
            "webhook_coming_online": "second-coming-online",
        },
        minor_version=2,
    )
    await set_up(hass, second)
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, "get_snapshot")
    assert raised.value.translation_key == "entry_required"

    await hass.config_entries.async_unload(second.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, "get_snapshot", {"config_entry_id": second.entry_id})
    assert raised.value.translation_key == "entry_not_loaded"
    await hass.config_entries.async_unload(loaded_entry.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, "get_snapshot")
    assert raised.value.translation_key == "none_loaded"


async def test_switch_dns_moves_the_record_and_holds_until_the_next_state_change(
    hass: HomeAssistant,
    dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    nas: BaluHostSimulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A manual switch is not undone by the heartbeat; the NAS's next move is."""
    await set_up(hass, dns_entry)
    assert record(pihole) == [f"{nas.host} baluhost.local"]

    response = await call(hass, "switch_dns", {"target": "pi"})
    assert response == {
        "hostname": "baluhost.local",
        "target": "pi",
        "address": PI_IP,
    }
    assert record(pihole) == [f"{PI_IP} baluhost.local"]
    assert hass.states.get("sensor.balupi_dns_points_to").state == "pi"
    await dns_entry.runtime_data.nas.async_refresh()
    assert record(pihole) == [f"{PI_IP} baluhost.local"], "the user's choice holds"

    client = await hass_client_no_auth()
    nas_push = NasPushClient(client.session, str(client.make_url("")), SECRET)
    assert (await nas_push.going_offline(make_snapshot())).ok
    assert (await nas_push.coming_online()).ok
    await hass.async_block_till_done()
    assert record(pihole) == [f"{nas.host} baluhost.local"]


async def test_switch_dns_for_another_name(
    hass: HomeAssistant, dns_entry: MockConfigEntry, pihole: PiholeSimulator
) -> None:
    """Any valid name can be switched; an invalid one is refused before any request."""
    await set_up(hass, dns_entry)
    await call(hass, "switch_dns", {"target": "pi", "hostname": "Files.Home"})
    assert record(pihole, "files.home") == [f"{PI_IP} files.home"]
    assert hass.states.get("sensor.balupi_dns_points_to").state == "nas"
    writes = pihole.writes
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, "switch_dns", {"target": "pi", "hostname": "not a name"})
    assert raised.value.translation_key == "invalid_hostname"
    assert pihole.writes == writes


async def test_switch_dns_says_what_the_pihole_did(
    hass: HomeAssistant, dns_entry: MockConfigEntry, pihole: PiholeSimulator
) -> None:
    """An unreachable Pi-hole is a translated error naming its URL."""
    await set_up(hass, dns_entry)
    await pihole.set_mode(PiholeMode.REFUSED)
    with pytest.raises(HomeAssistantError) as raised:
        await call(hass, "switch_dns", {"target": "pi"})
    assert raised.value.translation_key == "pihole_unreachable"
    assert raised.value.translation_placeholders is not None
    assert raised.value.translation_placeholders["url"] == pihole.url
    assert hass.states.get("sensor.balupi_dns_points_to").state == "unavailable"


async def test_the_dns_sensor_says_what_the_pihole_holds(
    hass: HomeAssistant,
    dns_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    nas: BaluHostSimulator,
    fast_timeout: float,
) -> None:
    """While BaluPi wants nothing yet, the sensor shows the record as it is."""
    await nas.shut_down()
    await set_up(hass, dns_entry)
    assert hass.states.get("sensor.baluhost_nas_state").state == "unknown"
    assert hass.states.get("sensor.balupi_dns_points_to").state == "none"
    pihole.hosts.append("10.9.9.9 baluhost.local")
    await dns_entry.runtime_data.nas.async_refresh()
    assert hass.states.get("sensor.balupi_dns_points_to").state == "other"
    assert pihole.writes == 0
