"""Diagnostics of BaluPi: what a bug report needs, without secrets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.components.webhook import async_generate_path
from homeassistant.core import HomeAssistant

from .const import (
    CONF_HANDSHAKE_SECRET,
    CONF_PIHOLE_PASSWORD,
    CONF_SSH_PRIVATE_KEY,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
)
from .coordinator import BaluPiConfigEntry

TO_REDACT = {
    CONF_HANDSHAKE_SECRET,
    CONF_PIHOLE_PASSWORD,
    CONF_SSH_PRIVATE_KEY,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BaluPiConfigEntry
) -> dict[str, Any]:
    """Return the entry's settings, the latest heartbeat and every plug's state."""
    data = entry.runtime_data
    status = data.nas.status
    sample = status.sample
    snapshot = status.snapshot
    connection = data.connection
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "webhooks": {
            "going_offline": async_generate_path(connection.webhook_going_offline),
            "coming_online": async_generate_path(connection.webhook_coming_online),
        },
        # The snapshot's figures, without its host name and user names.
        "snapshot": (
            {
                "received_at": snapshot.received_at.isoformat(),
                "baluhost_version": snapshot.baluhost_version,
                "storage_used": snapshot.storage_used,
                "storage_total": snapshot.storage_total,
                "arrays": snapshot.arrays,
                "failing_disks": snapshot.failing_disks,
            }
            if snapshot is not None
            else None
        ),
        "dns": (
            {
                "hostname": connection.pihole.hostname,
                "wanted": data.nas.dns.wanted if data.nas.dns else None,
                "pointer": status.dns.pointer if status.dns else None,
                "error": status.dns.error if status.dns else None,
            }
            if connection.pihole is not None
            else None
        ),
        "inbox": (
            {
                "content": asdict(status.inbox.content)
                if status.inbox.content
                else None,
                "last_flush": asdict(status.inbox.last_flush)
                if status.inbox.last_flush
                else None,
                "last_error": status.inbox.last_error,
                "flushing": status.inbox.flushing,
            }
            if status.inbox is not None
            else None
        ),
        "nas": {
            "state": status.state.value,
            "since": status.since.isoformat(),
            "power": status.power.value if status.power else None,
        },
        "heartbeat": (
            {
                "checked_at": sample.checked_at.isoformat(),
                "reachable": sample.reachable,
                "error": sample.error,
                "health": asdict(sample.health) if sample.health else None,
            }
            if sample is not None
            else None
        ),
        "plugs": [
            {
                "title": plug.title,
                "model": plug.model,
                "address": plug.address.key,
                "connection": dict(plug.address.connection),
                "last_update_success": plug.last_update_success,
                "last_exception": repr(plug.last_exception)
                if plug.last_exception
                else None,
                "reading": (
                    {
                        **asdict(plug.data),
                        "device_time": plug.data.device_time.isoformat(),
                    }
                    if plug.data is not None
                    else None
                ),
            }
            for plug in data.plugs.values()
        ],
        "plugs_rejecting_the_account": sorted(data.rejected_by),
    }
