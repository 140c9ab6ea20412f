r"""BaluHost's shutdown snapshot (v1), as the NAS builds it before it goes offline.

Shape and key order follow BaluHost ``backend/app/services/snapshot_export.py``
(``shared/reference/baluhost-protocol.md`` §2): ``version``, ``generated_at``
(``datetime.now(timezone.utc).isoformat()``, so ending in ``+00:00``),
``baluhost_version``, ``system``, ``storage``, ``smart_health``, ``services``,
``users`` and ``files_summary``. ``services.backups.last_backup`` is a *naive* ISO
time (the NAS's database column has no time zone) or None.

The content is made up but deterministic: the same arguments give the same snapshot.
The first user is ``jürgen``, so the NAS's ASCII escapes (``j\u00fcrgen``) show up on
the wire and in the signed canonical JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .nas_push import wire_body

SNAPSHOT_VERSION = 1
DISK_BYTES = 4_000_787_030_016
"""One simulated disk: a "4 TB" drive."""

_NAMES = ("jürgen", "anna", "mehmet", "søren", "lena", "kai")
"""The first users' names; the rest are ``user0007``, ``user0008``, ..."""


def make_snapshot(
    *,
    users: int = 3,
    disks: int = 2,
    arrays: int = 1,
    failing_disks: tuple[str, ...] = (),
    hostname: str = "baluhost",
    version: str = "1.15.6",
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """A v1 snapshot of a NAS with ``users`` users, ``disks`` disks in ``arrays`` arrays.

    Args:
        users: Active users; the first is an admin named ``jürgen``, the rest users.
        disks: Disks ``/dev/sda``, ``/dev/sdb``, ...; each has a SMART entry.
        arrays: md arrays ``md0``, ``md1``, ...; disk ``i`` (its first partition)
            belongs to array ``i % arrays``. One device is RAID 0, two RAID 1, more
            RAID 5.
        failing_disks: Disks whose SMART status is ``FAILED`` (``"sdb"`` or
            ``"/dev/sdb"``); their arrays are ``degraded``.
        hostname: ``system.hostname``.
        version: ``baluhost_version``.
        generated_at: When the snapshot was made (naive means UTC); default now.

    Raises:
        ValueError: A count is negative, there are arrays but fewer disks than arrays,
            or a failing disk is not one of the disks.
    """
    if min(users, disks, arrays) < 0:
        raise ValueError("counts must not be negative")
    if arrays > disks:
        raise ValueError(f"{arrays} arrays need at least {arrays} disks")
    names = [f"sd{chr(ord('a') + index)}" for index in range(disks)]
    failing = {disk.removeprefix("/dev/") for disk in failing_disks}
    if unknown := failing - set(names):
        raise ValueError(f"no such disk: {', '.join(sorted(unknown))}")
    if generated_at is None:
        generated_at = datetime.now(UTC)
    elif generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=UTC)
    generated_at = generated_at.astimezone(UTC)

    array_list = [
        _array(f"md{index}", names[index::arrays], failing) for index in range(arrays)
    ]
    total_bytes = sum(array["size_bytes"] for array in array_list)
    last_backup = (generated_at - timedelta(days=1)).replace(
        hour=3, minute=0, second=0, microsecond=0, tzinfo=None
    )
    user_list = [
        {"username": _username(index), "role": "admin" if index == 0 else "user"}
        for index in range(users)
    ]
    return {
        "version": SNAPSHOT_VERSION,
        "generated_at": generated_at.isoformat(),
        "baluhost_version": version,
        "system": {
            "hostname": hostname,
            "uptime_seconds": 3 * 86_400 + 4_321,
            "cpu_model": "Intel(R) N100",
            "ram_total_gb": 15.5,
        },
        "storage": {
            "arrays": array_list,
            "total_bytes": total_bytes,
            "used_bytes": total_bytes * 37 // 100,
        },
        "smart_health": {
            f"/dev/{name}": _smart(index, name in failing)
            for index, name in enumerate(names)
        },
        "services": {
            "vpn": {"active_clients": 1},
            "shares": {"active_shares": 2},
            "backups": {"last_backup": last_backup.isoformat(), "status": "completed"},
        },
        "users": {"total": len(user_list), "list": user_list},
        "files_summary": {
            "total_files": 128_345,
            "total_size_bytes": 987_654_321_012,
        },
    }


def snapshot_of_size(
    target_bytes: int, *, generated_at: datetime | None = None
) -> dict[str, Any]:
    """A snapshot whose wire body (what the NAS sends) is about ``target_bytes`` long.

    ``users.list`` grows until the body is as close to the target as one more or one
    fewer user gets it (a user entry is about 45 bytes); never fewer than one user.
    The default snapshot is about 1 KB, so smaller targets give that.
    """
    if generated_at is None:
        generated_at = datetime.now(UTC)

    def size(users: int) -> int:
        return len(wire_body(make_snapshot(users=users, generated_at=generated_at)))

    low, high = 1, 2
    while size(high) < target_bytes:
        low, high = high, high * 2
    # size(low) < target <= size(high) unless target is below size(1).
    while high - low > 1:
        middle = (low + high) // 2
        if size(middle) < target_bytes:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda users: (abs(size(users) - target_bytes), users))
    return make_snapshot(users=best, generated_at=generated_at)


def _username(index: int) -> str:
    return _NAMES[index] if index < len(_NAMES) else f"user{index + 1:04d}"


def _array(name: str, disks: list[str], failing: set[str]) -> dict[str, Any]:
    count = len(disks)
    if count == 1:
        level, size = "raid0", DISK_BYTES
    elif count == 2:
        level, size = "raid1", DISK_BYTES
    else:
        level, size = "raid5", (count - 1) * DISK_BYTES
    return {
        "name": name,
        "level": level,
        "state": "degraded" if failing.intersection(disks) else "optimal",
        "size_bytes": size,
        "devices": [f"{disk}1" for disk in disks],
    }


def _smart(index: int, failing: bool) -> dict[str, Any]:
    return {
        "status": "FAILED" if failing else "PASSED",
        "temperature_c": (52 if failing else 34) + index,
        "power_on_hours": 12_000 + 731 * index,
    }
