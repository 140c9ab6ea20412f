"""Energy counters that go back to zero only when their period really ends.

Plain Python. A Tapo plug resets "energy today" at its local midnight and "energy this
month" on the first of its month. Home Assistant's recorder reads every decrease of a
``total_increasing`` sensor as such a reset and starts a new cycle, so a plug that
reads a lower value for any other reason (it rebooted, lost its counters, a
reconnection returned zero for a moment) would add a fake reset, and the energy that
was already counted would be counted again. ``PeriodCounter`` holds the last good
value until the plug's own clock says a new period has begun.

``PlugCounters`` are one plug's two counters; they are kept across restarts
(``as_stored``/``from_stored``), because a plug that rebooted in the same power blip
as Home Assistant reads 0 Wh at first, and a restarted BaluPi with no last value to
hold would publish that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import math
from typing import Any


@dataclass(slots=True)
class PeriodCounter:
    """The published value of one counter that resets once per period."""

    value: float | None = None
    period: str | None = None
    reset_allowed: bool = False
    """A new period began and its reset has not been seen yet."""

    def update(self, reading: float | None, period: str | None) -> float | None:
        """Take a reading made in ``period``; return the value to publish.

        ``period`` identifies the counting period on the plug's clock (its ISO date
        for "today", ``YYYY-MM`` for "this month"). Once per new period one
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

    def as_stored(self) -> dict[str, Any]:
        """The counter as JSON."""
        return {
            "value": self.value,
            "period": self.period,
            "reset_allowed": self.reset_allowed,
        }

    @classmethod
    def from_stored(cls, stored: Any) -> PeriodCounter:
        """A counter saved by ``as_stored``; an empty one for anything else."""
        if not isinstance(stored, dict):
            return cls()
        value, period = stored.get("value"), stored.get("period")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
            or not isinstance(period, str)
        ):
            return cls()
        return cls(float(value), period, stored.get("reset_allowed") is True)


@dataclass(slots=True)
class PlugCounters:
    """One plug's "energy today" and "energy this month"."""

    today: PeriodCounter = field(default_factory=PeriodCounter)
    month: PeriodCounter = field(default_factory=PeriodCounter)

    def count(
        self, today: float | None, month: float | None, clock: datetime
    ) -> tuple[float | None, float | None]:
        """Take one reading made at ``clock`` (the plug's time); return what to publish."""
        return (
            self.today.update(today, clock.date().isoformat()),
            self.month.update(month, f"{clock.year:04d}-{clock.month:02d}"),
        )

    def as_stored(self) -> dict[str, Any]:
        """Both counters as JSON."""
        return {"today": self.today.as_stored(), "month": self.month.as_stored()}

    @classmethod
    def from_stored(cls, stored: Any) -> PlugCounters:
        """Counters saved by ``as_stored``; what is unreadable starts empty."""
        if not isinstance(stored, dict):
            return cls()
        return cls(
            PeriodCounter.from_stored(stored.get("today")),
            PeriodCounter.from_stored(stored.get("month")),
        )
