"""The NAS state machine: exactly the allowed transitions (plain module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product
import logging

import pytest

from custom_components.balupi.nas_state import (
    ALLOWED,
    NasState,
    NasStateMachine,
    Transition,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# From the product brief, written out independently of the module's table.
VALID = {
    ("unknown", "online"), ("unknown", "offline"),
    ("offline", "booting"), ("offline", "online"),
    ("booting", "online"), ("booting", "offline"),
    ("online", "shutting_down"), ("online", "offline"),
    ("shutting_down", "offline"), ("shutting_down", "online"),
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("old", "new"),
    [(old, new) for old, new in product(NasState, NasState) if old is not new],
)
def test_every_transition(
    old: NasState, new: NasState, caplog: pytest.LogCaptureFixture
) -> None:
    """All 20 moves between different states: 10 allowed, 10 refused and logged."""
    caplog.set_level(logging.INFO)
    clock = Clock()
    machine = NasStateMachine(old, T0, clock=clock)
    clock.now = T0 + timedelta(minutes=5)
    transition = machine.go(new, "test")
    if (old.value, new.value) in VALID:
        assert transition == Transition(old, new, "test", clock.now)
        assert machine.state is new
        assert machine.since == clock.now
    else:
        assert transition is None
        assert machine.state is old
        assert machine.since == T0, "a refused move does not touch since"
        assert f"Ignored NAS state change {old} → {new}" in caplog.text


def test_table_matches_the_brief() -> None:
    assert {
        (old.value, new.value) for old, targets in ALLOWED.items() for new in targets
    } == VALID


def test_staying_is_no_transition() -> None:
    machine = NasStateMachine(NasState.ONLINE, T0, clock=Clock())
    assert machine.go(NasState.ONLINE, "heartbeat") is None
    assert machine.since == T0


def test_a_full_cycle() -> None:
    clock = Clock()
    machine = NasStateMachine(clock=clock)
    steps = [
        (NasState.OFFLINE, "plug below 2 W"),
        (NasState.BOOTING, "Wake-on-LAN sent"),
        (NasState.ONLINE, "health answered"),
        (NasState.SHUTTING_DOWN, "going-offline push"),
        (NasState.OFFLINE, "shutdown complete"),
    ]
    for new, reason in steps:
        clock.now += timedelta(minutes=1)
        assert machine.go(new, reason) is not None
    assert machine.state is NasState.OFFLINE


def test_round_trip_through_storage() -> None:
    clock = Clock()
    machine = NasStateMachine(NasState.BOOTING, T0, clock=clock)
    restored = NasStateMachine.from_dict(machine.as_dict(), clock=clock)
    assert restored.state is NasState.BOOTING
    assert restored.since == T0


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {},
        {"state": "sleeping", "since": T0.isoformat()},
        {"state": "online", "since": "yesterday"},
        {"state": "online", "since": "2026-11-26T12:00:00"},  # no time zone
        {"state": "online"},
        ["online"],
    ],
)
def test_unreadable_storage_starts_over(stored: object) -> None:
    clock = Clock()
    machine = NasStateMachine.from_dict(stored, clock=clock)  # type: ignore[arg-type]
    assert machine.state is NasState.UNKNOWN
    assert machine.since == T0


def test_default_clock_is_utc() -> None:
    machine = NasStateMachine()
    assert machine.since.tzinfo is UTC
