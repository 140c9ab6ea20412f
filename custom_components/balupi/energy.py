"""What plug readings mean: the NAS's power state and what the energy costs.

Plain Python, no Home Assistant.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum


class NasPower(StrEnum):
    """What the NAS plug's power says about the NAS."""

    OFF = "off"
    STANDBY = "standby"
    ACTIVE = "active"


def classify_nas_power(
    watts: float,
    previous: NasPower | None,
    *,
    off_below: float,
    standby_max: float,
    active_above: float,
) -> NasPower:
    """Return the NAS's power state for a reading of its plug.

    Below ``off_below`` the NAS is off, up to ``standby_max`` it sleeps, above
    ``active_above`` it runs. Between the last two it is spinning up or winding
    down: the previous state stands, so a NAS passing through does not flap (with
    no previous state, it counts as standby until it crosses a limit).
    """
    if watts < off_below:
        return NasPower.OFF
    if watts <= standby_max:
        return NasPower.STANDBY
    if watts > active_above:
        return NasPower.ACTIVE
    return previous if previous is not None else NasPower.STANDBY


def cost(kwh: float, price_ct_per_kwh: float) -> float:
    """Return what ``kwh`` cost at a price in cents per kWh, in whole currency units."""
    return kwh * price_ct_per_kwh / 100


def month_estimate(month_cost: float, now: datetime) -> float:
    """Extrapolate the cost so far this month to the whole month at the same rate."""
    days = calendar.monthrange(now.year, now.month)[1]
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elapsed = (now - start).total_seconds()
    # In the first minutes of a month there is nothing to extrapolate from yet.
    if elapsed < 3600:
        return month_cost
    return month_cost * days * 86400 / elapsed


def total(values: Iterable[float | None]) -> float | None:
    """Sum the known values; None when none is known."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None
