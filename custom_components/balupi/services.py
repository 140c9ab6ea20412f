"""BaluPi's actions: read the snapshot, switch the DNS record, flush the inbox."""

from __future__ import annotations

from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .coordinator import BaluPiConfigEntry
from .dns import DnsTarget
from .inbox import (
    InboxError,
    RemotePathError,
    SshAuthError,
    SshHostKeyError,
    SshUnreachableError,
)
from .schema import vol

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_TARGET = "target"
ATTR_HOSTNAME = "hostname"

SERVICE_GET_SNAPSHOT = "get_snapshot"
SERVICE_SWITCH_DNS = "switch_dns"
SERVICE_FLUSH_INBOX = "flush_inbox"

_ENTRY = {vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}
ENTRY_SCHEMA = vol.Schema(_ENTRY)
SWITCH_DNS_SCHEMA = vol.Schema(
    {
        **_ENTRY,
        vol.Required(ATTR_TARGET): vol.In([target.value for target in DnsTarget]),
        vol.Optional(ATTR_HOSTNAME): cv.string,
    }
)

INBOX_ERRORS: dict[type[InboxError], str] = {
    SshUnreachableError: "ssh_unreachable",
    SshAuthError: "ssh_auth",
    SshHostKeyError: "ssh_host_key",
    RemotePathError: "nas_inbox_path",
}


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register BaluPi's actions (once, when the integration is set up)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_SNAPSHOT,
        _get_snapshot,
        schema=ENTRY_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SWITCH_DNS,
        _switch_dns,
        schema=SWITCH_DNS_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_FLUSH_INBOX,
        _flush_inbox,
        schema=ENTRY_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _entry(call: ServiceCall) -> BaluPiConfigEntry:
    """The loaded entry the call is for: the one named, or the only one."""
    wanted = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if wanted is not None:
        entry = call.hass.config_entries.async_get_entry(wanted)
        if entry is None or entry.domain != DOMAIN:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_found",
                translation_placeholders={"entry_id": wanted},
            )
        if entry not in call.hass.config_entries.async_loaded_entries(DOMAIN):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"title": entry.title},
            )
        return entry
    loaded: list[BaluPiConfigEntry] = call.hass.config_entries.async_loaded_entries(
        DOMAIN
    )
    if len(loaded) != 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_required" if loaded else "none_loaded",
        )
    return loaded[0]


def _lacking(entry: BaluPiConfigEntry, key: str) -> ServiceValidationError:
    """The error for an action that needs a part the entry was set up without."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"title": entry.title},
    )


async def _get_snapshot(call: ServiceCall) -> ServiceResponse:
    entry = _entry(call)
    snapshot = entry.runtime_data.nas.snapshots.current
    if snapshot is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_snapshot"
        )
    return {"received_at": snapshot.received_at.isoformat(), "snapshot": snapshot.data}


async def _switch_dns(call: ServiceCall) -> ServiceResponse:
    entry = _entry(call)
    dns = entry.runtime_data.nas.dns
    if dns is None:
        raise _lacking(entry, "no_pihole")
    target = DnsTarget(call.data[ATTR_TARGET])
    hostname = call.data.get(ATTR_HOSTNAME) or dns.settings.hostname
    try:
        name = await dns.async_switch_now(target, hostname)
    finally:
        entry.runtime_data.nas.async_publish()
    connection = entry.runtime_data.connection
    address = connection.nas_ip if target is DnsTarget.NAS else connection.pi_ip
    return {
        "hostname": name,
        "target": target.value,
        "address": address,
    }


async def _flush_inbox(call: ServiceCall) -> ServiceResponse:
    entry = _entry(call)
    inbox = entry.runtime_data.nas.inbox
    if inbox is None:
        raise _lacking(entry, "no_inbox")
    try:
        result = await entry.runtime_data.nas.start_flush(inbox)
    except InboxError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=INBOX_ERRORS.get(type(err), "flush_failed"),
            translation_placeholders={
                "host": entry.runtime_data.connection.nas_ip,
                "error": str(err),
            },
        ) from err
    response: dict[str, Any] = {
        "transport": result.transport,
        "files_transferred": result.files_transferred,
        "bytes_transferred": result.bytes_transferred,
        "failures": [
            {"path": failure.path, "reason": failure.reason}
            for failure in result.failures
        ],
        "files_remaining": result.remaining.files,
        "files_waiting": result.waiting.files,
    }
    return response
