"""The snapshot the NAS sends when it shuts down, kept across restarts.

BaluHost's snapshot v1 says how the NAS was when it left: storage, RAID arrays, SMART
health, services and users. It is what the Pi can show while the NAS is away. The
NAS is a peer like any other, so every figure is read defensively: a field of the
wrong type reads as unknown, never as an error.

The NAS's user names (``users.list``) are not kept: every signed-in user can read the
snapshot, and nothing of BaluPi needs them (``users.total`` stays). A snapshot that
Home Assistant cannot store or serve as JSON (an integer of 2**64 or more, nesting
deeper than 255 levels, a lone surrogate in a string) is dropped, with a warning and
the time and reason kept for the diagnostics; the push it came with acts all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.json import json_bytes
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER

STORAGE_VERSION = 1
HEALTHY_ARRAY = "optimal"
PASSED = "PASSED"


def snapshot_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where the latest snapshot and its arrival time are kept."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.snapshot")


def without_user_names(data: dict[str, Any]) -> dict[str, Any]:
    """The snapshot without ``users.list`` (the NAS's user names and roles)."""
    users = data.get("users")
    if not isinstance(users, dict) or "list" not in users:
        return data
    return {
        **data,
        "users": {key: value for key, value in users.items() if key != "list"},
    }


@dataclass(frozen=True, slots=True)
class DroppedSnapshot:
    """A snapshot that arrived with a valid push but was not kept."""

    at: datetime
    reason: str

    def as_stored(self) -> dict[str, str]:
        """What the store keeps."""
        return {"at": self.at.isoformat(), "reason": self.reason}

    @classmethod
    def from_stored(cls, stored: Any) -> DroppedSnapshot | None:
        """The drop the store kept, or None."""
        if not isinstance(stored, dict) or not isinstance(stored.get("reason"), str):
            return None
        at = dt_util.parse_datetime(str(stored.get("at", "")))
        return cls(at, stored["reason"]) if at is not None else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot as the NAS sent it, and when it arrived."""

    received_at: datetime
    data: dict[str, Any]

    @property
    def baluhost_version(self) -> str | None:
        """The NAS's software version when it sent the snapshot."""
        version = self.data.get("baluhost_version")
        return version if isinstance(version, str) and version else None

    @property
    def storage_used(self) -> int | None:
        """Bytes used on the NAS's storage."""
        return _count(_section(self.data, "storage").get("used_bytes"))

    @property
    def storage_total(self) -> int | None:
        """Bytes of all RAID arrays together."""
        return _count(_section(self.data, "storage").get("total_bytes"))

    @property
    def arrays(self) -> dict[str, str]:
        """Each RAID array's state, by name."""
        arrays = _section(self.data, "storage").get("arrays")
        if not isinstance(arrays, list):
            return {}
        return {
            str(array["name"]): str(array["state"])
            for array in arrays
            if isinstance(array, dict) and "name" in array and "state" in array
        }

    @property
    def array_state(self) -> str | None:
        """``optimal`` when every array is; otherwise the first other state."""
        states = list(self.arrays.values())
        if not states:
            return None
        unhealthy = [state for state in states if state != HEALTHY_ARRAY]
        return unhealthy[0] if unhealthy else HEALTHY_ARRAY

    @property
    def failing_disks(self) -> list[str] | None:
        """Disks whose SMART status is not ``PASSED``; None without SMART data."""
        smart = self.data.get("smart_health")
        if not isinstance(smart, dict):
            return None
        return sorted(
            str(disk)
            for disk, health in smart.items()
            if not isinstance(health, dict) or health.get("status") != PASSED
        )

    def as_stored(self) -> dict[str, Any]:
        """What the store keeps."""
        return {"received_at": self.received_at.isoformat(), "data": self.data}

    @classmethod
    def from_stored(cls, stored: Any) -> Snapshot | None:
        """The snapshot the store kept, or None."""
        if not isinstance(stored, dict) or not isinstance(stored.get("data"), dict):
            return None
        received_at = dt_util.parse_datetime(str(stored.get("received_at", "")))
        if received_at is None:
            return None
        return cls(received_at, without_user_names(stored["data"]))


class SnapshotKeeper:
    """Keeps the latest snapshot in Home Assistant's storage."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep the snapshot of entry ``entry_id``."""
        self._store = snapshot_store(hass, entry_id)
        self.current: Snapshot | None = None
        self.dropped: DroppedSnapshot | None = None
        """The latest snapshot that was not kept, and why."""

    async def async_load(self) -> None:
        """Read the snapshot kept before a restart."""
        stored = await self._store.async_load()
        self.current = Snapshot.from_stored(stored)
        if isinstance(stored, dict):
            self.dropped = DroppedSnapshot.from_stored(stored.get("dropped"))

    async def async_keep(self, data: Any) -> Snapshot | None:
        """Replace the kept snapshot with ``data``, received now.

        Returns None, keeping the previous snapshot, when ``data`` is no JSON object
        or cannot be stored; never raises.
        """
        if not isinstance(data, dict):
            await self._drop("it is not a JSON object")
            return None
        snapshot = Snapshot(dt_util.utcnow(), without_user_names(data))
        try:
            # What the store and the snapshot view will do with it.
            json_bytes(snapshot.as_stored())
        except (TypeError, ValueError) as err:  # orjson's JSONEncodeError
            await self._drop(f"Home Assistant cannot store it: {err}")
            return None
        self.current = snapshot
        await self._save()
        return snapshot

    async def _drop(self, reason: str) -> None:
        LOGGER.warning(
            "The NAS's snapshot was dropped because %s; the push acts without it",
            reason,
        )
        self.dropped = DroppedSnapshot(dt_util.utcnow(), reason)
        await self._save()

    async def _save(self) -> None:
        stored: dict[str, Any] = (
            self.current.as_stored() if self.current is not None else {}
        )
        if self.dropped is not None:
            stored["dropped"] = self.dropped.as_stored()
        try:
            await self._store.async_save(stored)
        except (HomeAssistantError, OSError) as err:
            LOGGER.warning("Could not store the NAS's snapshot: %s", err)


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    section = data.get(key)
    return section if isinstance(section, dict) else {}


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return int(value)
