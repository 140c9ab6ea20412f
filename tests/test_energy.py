"""NAS power state and cost arithmetic (plain module)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.balupi.energy import (
    NasPower,
    classify_nas_power,
    cost,
    month_estimate,
    total,
)

LIMITS = {"off_below": 2.0, "standby_max": 15.0, "active_above": 30.0}


@pytest.mark.parametrize(
    ("watts", "previous", "expected"),
    [
        (0.0, None, NasPower.OFF),
        (1.9, NasPower.ACTIVE, NasPower.OFF),
        (2.0, None, NasPower.STANDBY),
        (8.0, NasPower.ACTIVE, NasPower.STANDBY),
        (15.0, NasPower.OFF, NasPower.STANDBY),
        (30.1, NasPower.STANDBY, NasPower.ACTIVE),
        (45.0, None, NasPower.ACTIVE),
        # Between standby and active the previous state stands (no flapping).
        (22.0, NasPower.ACTIVE, NasPower.ACTIVE),
        (22.0, NasPower.STANDBY, NasPower.STANDBY),
        (30.0, NasPower.OFF, NasPower.OFF),
        (22.0, None, NasPower.STANDBY),
    ],
)
def test_classify_nas_power(
    watts: float, previous: NasPower | None, expected: NasPower
) -> None:
    assert classify_nas_power(watts, previous, **LIMITS) is expected


def test_cost_in_currency_units() -> None:
    assert cost(10.0, 30.0) == pytest.approx(3.0)
    assert cost(0.0, 30.0) == 0.0


def test_month_estimate_extrapolates_linearly() -> None:
    # 10 of 30 November days gone: 2 EUR so far -> 6 EUR for the month.
    now = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
    assert month_estimate(2.0, now) == pytest.approx(6.0)
    # February 2028 has 29 days: half of it gone at noon on the 15th.
    now = datetime(2028, 2, 15, 12, 0, tzinfo=UTC)
    assert month_estimate(1.0, now) == pytest.approx(2.0)


def test_month_estimate_in_the_first_hour_is_the_cost_so_far() -> None:
    now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert month_estimate(0.01, now) == 0.01


def test_total_of_known_values() -> None:
    assert total([1.0, None, 2.5]) == 3.5
    assert total([None, None]) is None
    assert total([]) is None
