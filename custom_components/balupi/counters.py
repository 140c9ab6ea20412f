"""Energy counters that go back to zero only when their period really ends.

Plain Python. A Tapo plug resets "energy today" at its local midnight and "energy this
month" on the first of its month. Home Assistant's recorder reads every decrease of a
``total_increasing`` sensor as such a reset and starts a new cycle, so a plug that
reads a lower value for any other reason (it rebooted, lost its counters, a
reconnection returned zero for a moment) would add a fake reset, and the energy that
was already counted would be counted again. ``PeriodCounter`` holds the last good
value until the plug's own clock says a new period has begun.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class PeriodCounter:
    """The published value of one counter that resets once per period."""

    value: float | None = None
    period: Hashable = None
    reset_allowed: bool = False
    """A new period began and its reset has not been seen yet."""

    def update(self, reading: float | None, period: Hashable) -> float | None:
        """Take a reading made in ``period``; return the value to publish.

        ``period`` identifies the counting period on the plug's clock (its date for
        "today", its year and month for "this month"). Once per new period one
        decrease is taken as the reset, whether the plug's clock or its counter
        changed first; any other decrease is held back. An unknown period (the
        plug's clock could not be read) never allows a reset.
        """
        if period is not None and period != self.period:
            self.reset_allowed = self.period is not None
            self.period = period
        if reading is None:
            return self.value
        if self.value is None or reading >= self.value:
            self.value = reading
        elif self.reset_allowed:
            self.value = reading
            self.reset_allowed = False
        return self.value
