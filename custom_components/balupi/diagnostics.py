"""Diagnostics of BaluPi: what a bug report needs, without secrets.

Redacted: the handshake secret, the passwords, BaluPi's SSH key, the Tapo account and
both webhook IDs (with one, anyone on the LAN can reach the webhook; the signature
still guards it, but an ID is no business of a bug report). The snapshot shows its
figures only, without the NAS's host name and user names.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import (
    CONF_HANDSHAKE_SECRET,
    CONF_PIHOLE_PASSWORD,
    CONF_SSH_PRIVATE_KEY,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
    DOMAIN,
)
from .coordinator import BaluPiConfigEntry, BaluPiData, PlugCoordinator

TO_REDACT = {
    CONF_HANDSHAKE_SECRET,
    CONF_PIHOLE_PASSWORD,
    CONF_SSH_PRIVATE_KEY,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BaluPiConfigEntry
) -> dict[str, Any]:
    """Return the entry's settings, the NAS, the Pi's parts and every plug's state."""
    data = entry.runtime_data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        **_nas(data),
        **_hub(data),
        "plugs": [_plug(plug) for plug in data.plugs.values()],
        "plugs_rejecting_the_account": sorted(data.rejected_by),
    }


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: BaluPiConfigEntry, device: dr.DeviceEntry
) -> dict[str, Any]:
    """Return what one device of the entry is about: the NAS, BaluPi or a plug."""
    data = entry.runtime_data
    if (DOMAIN, data.connection.nas_mac) in device.identifiers:
        return {"device": "nas", **_nas(data)}
    for plug in data.plugs.values():
        if (DOMAIN, plug.mac) in device.identifiers:
            return {"device": "plug", **_plug(plug)}
    return {"device": "balupi", **_hub(data)}


def _nas(data: BaluPiData) -> dict[str, Any]:
    """The NAS's state, its latest heartbeat and its last snapshot."""
    status = data.nas.status
    sample = status.sample
    snapshot = status.snapshot
    dropped = data.nas.snapshots.dropped
    return {
        "nas": {
            "state": status.state.value,
            "since": status.since.isoformat(),
            "known": status.known,
            "power": status.power.value if status.power else None,
            "asked": status.decision.why.value if status.decision else None,
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
        # The latest snapshot that came with a valid push but could not be kept.
        "snapshot_dropped": (
            {"at": dropped.at.isoformat(), "reason": dropped.reason}
            if dropped is not None
            else None
        ),
    }


def _hub(data: BaluPiData) -> dict[str, Any]:
    """What the Pi does for the NAS: the DNS record and the inbox."""
    status = data.nas.status
    dns, inbox = data.nas.dns, status.inbox
    return {
        "dns": (
            {
                "hostname": dns.settings.hostname,
                "wanted": dns.wanted,
                "pointer": status.dns.pointer if status.dns else None,
                "error": status.dns.error if status.dns else None,
            }
            if dns is not None
            else None
        ),
        "inbox": (
            {
                "content": asdict(inbox.content) if inbox.content else None,
                "ready": asdict(inbox.ready) if inbox.ready else None,
                "last_flush": asdict(inbox.last_flush) if inbox.last_flush else None,
                "last_error": inbox.last_error,
                "flushing": inbox.flushing,
            }
            if inbox is not None
            else None
        ),
    }


def _plug(plug: PlugCoordinator) -> dict[str, Any]:
    """One plug: where it is, whether it answers, its latest reading."""
    return {
        "title": plug.title,
        "model": plug.model,
        "address": plug.address.key,
        "connection": dict(plug.address.connection),
        "measures": None if plug.measures is None else sorted(plug.measures),
        "last_update_success": plug.last_update_success,
        "last_exception": repr(plug.last_exception) if plug.last_exception else None,
        "reading": (
            {
                **asdict(plug.data),
                "device_time": plug.data.device_time.isoformat(),
                "measures": (
                    None if plug.data.measures is None else sorted(plug.data.measures)
                ),
            }
            if plug.data is not None
            else None
        ),
    }
