"""When BaluPi may send the NAS a health request: the rule, as one pure function.

Plain Python, no Home Assistant. BaluHost's soft sleep ends on any ``GET /api/health``:
a request sent to a sleeping NAS wakes it and costs the power it sleeps to save. So a
heartbeat asks only when something says the NAS is awake, or when nothing could say
and the user chose to be asked anyway. The first row that matches decides:

| # | When a heartbeat falls due                                           | Ask? |
|---|----------------------------------------------------------------------|------|
| 1 | the NAS is shutting down (it said so)                                | no   |
| 2 | *Leave a sleeping NAS alone* is off                                  | yes  |
| 3 | no NAS plug is chosen                                                | yes  |
| 4 | the NAS is booting (BaluPi sent the magic packet)                    | yes  |
| 5 | the NAS plug was read just now and reads full power (active)         | yes  |
| 6 | the NAS plug was read just now and reads standby or no power         | no   |
| 7 | the NAS plug could not be read just now (unreachable, or not yet)    | no   |

"Just now" is a reading younger than ``fresh_within`` seconds: the heartbeat reads the
NAS plug itself right before it decides, so the reading it decides on is the one it
took. A reading from before says nothing: the NAS may have fallen asleep since. Row 7
also covers every failed request while the plug is away: nothing is sent until the
plug can be read again. With row 7, BaluPi cannot tell where the NAS is, and says so
(``Decision.blind``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .energy import NasPower
from .nas_state import NasState


class Why(StrEnum):
    """Which row of the table decided (values are stable, for diagnostics)."""

    SHUTTING_DOWN = "shutting_down"
    ALWAYS_ASK = "always_ask"
    NO_NAS_PLUG = "no_nas_plug"
    BOOTING = "booting"
    PLUG_ACTIVE = "plug_active"
    PLUG_STANDBY = "plug_standby"
    PLUG_OFF = "plug_off"
    PLUG_UNREADABLE = "plug_unreadable"


_ASKS = {Why.ALWAYS_ASK, Why.NO_NAS_PLUG, Why.BOOTING, Why.PLUG_ACTIVE}

_WORDS = {
    Why.SHUTTING_DOWN: (
        "not asked: it said it is shutting down; its plug or its next push tells "
        "the rest"
    ),
    Why.ALWAYS_ASK: "asked at every heartbeat (Leave a sleeping NAS alone is off)",
    Why.NO_NAS_PLUG: "asked at every heartbeat: no NAS plug can tell whether it sleeps",
    Why.BOOTING: "asked while it boots after Wake-on-LAN",
    Why.PLUG_ACTIVE: "asked: its plug reads full power, so it is awake",
    Why.PLUG_STANDBY: (
        "not asked: its plug reads standby power, so it sleeps, "
        "and a health check would wake it"
    ),
    Why.PLUG_OFF: "not asked: its plug reads no power",
    Why.PLUG_UNREADABLE: (
        "not asked: its plug cannot be read, so BaluPi cannot tell whether it "
        "sleeps, and a health check would wake a sleeping NAS"
    ),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the heartbeat sends its health request, and which row said so."""

    why: Why

    @property
    def ask(self) -> bool:
        """Send the health request."""
        return self.why in _ASKS

    @property
    def blind(self) -> bool:
        """BaluPi asks nothing and no plug reading tells it where the NAS is."""
        return self.why is Why.PLUG_UNREADABLE

    @property
    def words(self) -> str:
        """The row in words, for the log ("The NAS at ... is <words>")."""
        return _WORDS[self.why]


def may_ask(  # noqa: PLR0911 (one return per table row)
    state: NasState,
    *,
    spare_sleeping_nas: bool,
    nas_plug: bool,
    power: NasPower | None,
    power_age: float | None,
    fresh_within: float,
) -> Decision:
    """Apply the table to one heartbeat.

    ``power`` is the NAS plug's latest reading, taken ``power_age`` seconds ago; both
    None when the plug's latest read failed or it was never read.
    """
    if state is NasState.SHUTTING_DOWN:
        return Decision(Why.SHUTTING_DOWN)
    if not spare_sleeping_nas:
        return Decision(Why.ALWAYS_ASK)
    if not nas_plug:
        return Decision(Why.NO_NAS_PLUG)
    if state is NasState.BOOTING:
        return Decision(Why.BOOTING)
    if power is None or power_age is None or not 0 <= power_age < fresh_within:
        return Decision(Why.PLUG_UNREADABLE)
    if power is NasPower.ACTIVE:
        return Decision(Why.PLUG_ACTIVE)
    if power is NasPower.STANDBY:
        return Decision(Why.PLUG_STANDBY)
    return Decision(Why.PLUG_OFF)
