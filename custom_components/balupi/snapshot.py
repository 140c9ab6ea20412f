"""The snapshot the NAS sends when it shuts down, kept across restarts.

BaluHost's snapshot v1 says how the NAS was when it left: storage, RAID arrays, SMART
health, services and users. It is what the Pi can show while the NAS is away. The
NAS is a peer like any other, so every figure is read defensively: a field of the
wrong type reads as unknown, never as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN

STORAGE_VERSION = 1
HEALTHY_ARRAY = "optimal"
PASSED = "PASSED"


def snapshot_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where the latest snapshot and its arrival time are kept."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.snapshot")


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
        return cls(received_at, stored["data"])


class SnapshotKeeper:
    """Keeps the latest snapshot in Home Assistant's storage."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep the snapshot of entry ``entry_id``."""
        self._store = snapshot_store(hass, entry_id)
        self.current: Snapshot | None = None

    async def async_load(self) -> None:
        """Read the snapshot kept before a restart."""
        self.current = Snapshot.from_stored(await self._store.async_load())

    async def async_keep(self, data: dict[str, Any]) -> Snapshot:
        """Replace the kept snapshot with ``data``, received now."""
        self.current = Snapshot(dt_util.utcnow(), data)
        await self._store.async_save(self.current.as_stored())
        return self.current


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    section = data.get(key)
    return section if isinstance(section, dict) else {}


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return int(value)
