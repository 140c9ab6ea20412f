"""Reading the NAS's snapshot: real shapes, and whatever a wrong peer sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.balupi.snapshot import (
    DroppedSnapshot,
    Snapshot,
    without_user_names,
)
from simulators.snapshot import make_snapshot

AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_figures_of_a_real_snapshot() -> None:
    data = make_snapshot(
        arrays=2, disks=4, failing_disks=("/dev/sdc",), version="1.16.2"
    )
    snapshot = Snapshot(AT, data)
    assert snapshot.baluhost_version == "1.16.2"
    assert snapshot.storage_used == data["storage"]["used_bytes"]
    assert snapshot.storage_total == data["storage"]["total_bytes"]
    assert snapshot.failing_disks == ["/dev/sdc"]
    assert set(snapshot.arrays) == {
        array["name"] for array in data["storage"]["arrays"]
    }


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["optimal", "optimal"], "optimal"),
        (["optimal", "degraded"], "degraded"),
        (["rebuilding", "degraded"], "rebuilding"),
        ([], None),
    ],
)
def test_array_state_names_the_first_unhealthy_array(
    states: list[str], expected: str | None
) -> None:
    arrays = [{"name": f"md{i}", "state": s} for i, s in enumerate(states)]
    assert Snapshot(AT, {"storage": {"arrays": arrays}}).array_state == expected


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"storage": "full", "smart_health": [], "baluhost_version": 7},
        {"storage": {"used_bytes": -1, "total_bytes": True, "arrays": {"md0": 1}}},
        {"storage": {"used_bytes": "12", "arrays": [None, {"name": "md0"}]}},
    ],
)
def test_a_wrong_snapshot_reads_as_unknown(data: dict[str, Any]) -> None:
    """Nothing a peer sends makes a figure up or raises."""
    snapshot = Snapshot(AT, data)
    assert snapshot.baluhost_version is None
    assert snapshot.storage_used is None
    assert snapshot.storage_total is None
    assert snapshot.arrays == {}
    assert snapshot.array_state is None
    assert snapshot.failing_disks is None


def test_smart_entries_that_are_not_objects_count_as_failing() -> None:
    snapshot = Snapshot(
        AT, {"smart_health": {"/dev/sda": {"status": "PASSED"}, "/dev/sdb": "FAILED"}}
    )
    assert snapshot.failing_disks == ["/dev/sdb"]


def test_stored_form_round_trips_and_rejects_garbage() -> None:
    snapshot = Snapshot(AT, without_user_names(make_snapshot()))
    assert Snapshot.from_stored(snapshot.as_stored()) == snapshot
    for stored in (None, [], {"data": []}, {"data": {}, "received_at": "yesterday"}):
        assert Snapshot.from_stored(stored) is None


def test_user_names_are_left_out_and_the_count_kept() -> None:
    data = make_snapshot(users=4)
    kept = without_user_names(data)
    assert kept["users"] == {"total": 4}
    assert {key: value for key, value in kept.items() if key != "users"} == {
        key: value for key, value in data.items() if key != "users"
    }
    assert "list" in data["users"], "the NAS's data is not changed"
    stored = Snapshot(AT, data).as_stored()
    loaded = Snapshot.from_stored(stored)
    assert loaded is not None
    assert loaded.data["users"] == {"total": 4}


@pytest.mark.parametrize("users", [None, "many", {"total": 2}, ["anna"]])
def test_odd_user_sections_are_left_as_they_are(users: Any) -> None:
    data = {"users": users}
    assert without_user_names(data) == data


def test_a_stored_drop_reads_back_and_garbage_is_ignored() -> None:
    dropped = DroppedSnapshot(AT, "it is not a JSON object")
    assert DroppedSnapshot.from_stored(dropped.as_stored()) == dropped
    for stored in (None, [], {"at": "2026-11-27T03:00:00+00:00"}, {"reason": "x"}):
        assert DroppedSnapshot.from_stored(stored) is None
