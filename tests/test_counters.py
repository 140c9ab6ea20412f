"""Energy counters: real resets pass, fake ones are held back (plain module)."""

from __future__ import annotations

from datetime import date

from custom_components.balupi.counters import PeriodCounter

MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)


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
