"""Dual detection: what the health endpoint and the NAS plug together say.

Plain Python, no Home Assistant. The heartbeat alone cannot tell a NAS that sleeps from
one that is off or one whose service crashed, and asking a sleeping NAS wakes it. The
NAS plug's power can. This module holds the table that combines both:

| health endpoint         | NAS plug                | verdict                              |
|-------------------------|-------------------------|--------------------------------------|
| answered                | any                     | online                               |
| (shutting down)         | off                     | offline: powered off after its push  |
| (shutting down)         | anything else           | no change: the bound or a push ends  |
| any                     | off (below off limit)   | offline: no power                    |
| failed or not asked     | standby                 | offline: asleep (not while booting)  |
| failed N times in a row | active (above limit)    | no change: service down, hardware on |
| failed N times in a row | no plug / unknown       | offline: no answer                   |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .energy import NasPower
from .nas_state import NasState


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one heartbeat round found out."""

    http_ok: bool | None
    """The health endpoint answered (True), did not (False), was not asked (None)."""
    failures: int
    """Health checks that failed in a row, this one included."""
    power: NasPower | None
    """The NAS plug's verdict; None without a NAS plug or a reading."""


class Cause(StrEnum):
    """Why the state changed, for automations (``cause`` in the state event)."""

    HEALTH_ANSWERED = "health_answered"
    STARTUP_PUSH = "startup_push"
    WAKE_REQUESTED = "wake_requested"
    SHUTDOWN_PUSH = "shutdown_push"
    NO_POWER = "no_power"
    ASLEEP = "asleep"
    NO_ANSWER = "no_answer"
    BOOT_TIMEOUT = "boot_timeout"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where the evidence says the NAS is, and why."""

    state: NasState | None
    """The state to move to; None to stay where it is."""
    reason: str
    """Why, in words (logged, and ``reason`` in the state event)."""
    cause: Cause | None = None
    """Why, as a code; None when the state stays."""


def judge(state: NasState, evidence: Evidence, *, failure_threshold: int) -> Verdict:  # noqa: PLR0911 (one return per table row)
    """Apply the dual-detection table to the current state and new evidence."""
    if evidence.http_ok:
        return Verdict(
            NasState.ONLINE, "the health endpoint answered", Cause.HEALTH_ANSWERED
        )
    if state is NasState.SHUTTING_DOWN:
        # It said goodbye: its plug shows when it is off; standby power on the way
        # down is not sleep, and nobody asks it.
        if evidence.power is NasPower.OFF:
            return Verdict(
                NasState.OFFLINE,
                "the NAS powered off after shutting down",
                Cause.SHUTDOWN_PUSH,
            )
        return Verdict(None, "shutting down; its plug or the time bound decides")
    if evidence.power is NasPower.OFF:
        return Verdict(NasState.OFFLINE, "the NAS plug reads no power", Cause.NO_POWER)
    if evidence.power is NasPower.STANDBY and state is not NasState.BOOTING:
        # While booting, the plug reads standby power until the disks spin up; the
        # boot timeout decides then, not one early reading.
        return Verdict(
            NasState.OFFLINE, "the NAS plug reads standby power: asleep", Cause.ASLEEP
        )
    if evidence.failures < failure_threshold:
        return Verdict(None, f"{evidence.failures} failed health checks so far")
    if evidence.power is NasPower.ACTIVE:
        return Verdict(
            None,
            "the health endpoint fails but the plug reads full power: "
            "the NAS service is down, the hardware on",
        )
    if state is NasState.BOOTING:
        return Verdict(None, "still booting; the boot timeout decides")
    return Verdict(
        NasState.OFFLINE,
        f"no answer from the health endpoint {evidence.failures} times",
        Cause.NO_ANSWER,
    )
