"""Energy counters: real resets pass, fake ones are held back (plain module)."""

from __future__ import annotations

from datetime import datetime
import json
from typing import Any

import pytest

from custom_components.balupi.counters import PeriodCounter, PlugCounters

MON, TUE, WED = "2026-11-23", "2026-11-24", "2026-11-25"


def test_counter_rises_within_a_period() -> None:
    counter = PeriodCounter()
    assert counter.update(0.5, MON) == 0.5
    assert counter.update(0.7, MON) == 0.7


def test_zero_in_the_middle_of_the_day_is_held_back() -> None:
    """A reconnect that reads 0 mid-day must not look like a reset."""
    counter = PeriodCounter()
    counter.update(1.2, MON)
    assert counter.update(0.0, MON) == 1.2
    assert counter.update(1.1, MON) == 1.2
    assert counter.update(1.3, MON) == 1.3


def test_reset_at_the_plugs_midnight_passes() -> None:
    counter = PeriodCounter()
    counter.update(3.4, MON)
    assert counter.update(0.0, TUE) == 0.0
    assert counter.update(0.1, TUE) == 0.1


def test_only_one_reset_per_period() -> None:
    """After the real reset, a second drop on the same day is a fake one."""
    counter = PeriodCounter()
    counter.update(3.4, MON)
    counter.update(0.0, TUE)
    counter.update(0.8, TUE)
    assert counter.update(0.0, TUE) == 0.8


def test_clock_rolls_over_before_the_counter_resets() -> None:
    """The plug's new date can arrive one reading before its zeroed counter."""
    counter = PeriodCounter()
    counter.update(3.4, MON)
    assert counter.update(3.5, TUE) == 3.5
    assert counter.update(0.0, TUE) == 0.0


def test_a_skipped_period_still_resets() -> None:
    """The plug was offline all Tuesday; Wednesday's low value is a real reset."""
    counter = PeriodCounter()
    counter.update(3.4, MON)
    assert counter.update(0.2, WED) == 0.2


def test_unknown_clock_never_resets() -> None:
    counter = PeriodCounter()
    counter.update(2.0, None)
    assert counter.update(0.0, None) == 2.0
    counter.update(2.5, MON)
    assert counter.update(0.0, None) == 2.5


def test_first_reading_and_missing_readings() -> None:
    counter = PeriodCounter()
    assert counter.update(None, MON) is None
    assert counter.update(0.0, MON) == 0.0
    assert counter.update(None, MON) == 0.0


def test_plug_counters_follow_the_plugs_day_and_month() -> None:
    counters = PlugCounters()
    assert counters.count(1.5, 40.0, datetime(2026, 11, 30, 23, 59)) == (1.5, 40.0)
    # A zero on the same day and month is held back ...
    assert counters.count(0.0, 0.0, datetime(2026, 11, 30, 23, 59, 30)) == (1.5, 40.0)
    # ... and passes once the plug's clock is in December.
    assert counters.count(0.0, 0.0, datetime(2026, 12, 1, 0, 0, 10)) == (0.0, 0.0)


def test_counters_saved_and_restored_still_hold_back_a_zero() -> None:
    """After a restart, a plug's first 0 Wh on the same day is not a reset."""
    before = PlugCounters()
    before.count(1.5, 40.0, datetime(2026, 11, 30, 12))
    restored = PlugCounters.from_stored(json.loads(json.dumps(before.as_stored())))
    assert restored == before
    assert restored.count(0.0, 0.0, datetime(2026, 11, 30, 12, 1)) == (1.5, 40.0)
    assert restored.count(1.6, 40.1, datetime(2026, 11, 30, 12, 2)) == (1.6, 40.1)


def test_restored_counters_reset_once_in_a_new_period() -> None:
    """Home Assistant was down over midnight: the plug's new day resets."""
    before = PlugCounters()
    before.count(1.5, 40.0, datetime(2026, 11, 29, 23, 50))
    restored = PlugCounters.from_stored(before.as_stored())
    assert restored.count(0.2, 41.0, datetime(2026, 11, 30, 0, 30)) == (0.2, 41.0)
    assert restored.count(0.0, 41.0, datetime(2026, 11, 30, 0, 31)) == (0.2, 41.0)


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        "garbage",
        {"today": {"value": "1.5", "period": MON}},
        {"today": {"value": True, "period": MON}},
        {"today": {"value": -1.0, "period": MON}},
        {"today": {"value": float("nan"), "period": MON}},
        {"today": {"value": 1.5, "period": 20261123}},
        {"today": {"value": 1.5}},
    ],
)
def test_unreadable_saved_counters_start_empty(stored: Any) -> None:
    counters = PlugCounters.from_stored(stored)
    assert counters.today == PeriodCounter()
    assert counters.month == PeriodCounter()
    assert counters.count(0.3, 2.0, datetime(2026, 11, 23, 9)) == (0.3, 2.0)
