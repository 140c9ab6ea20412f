"""The NAS's lifecycle as a state machine with exactly the allowed transitions.

Plain Python, no Home Assistant. States and transitions are BaluHost's
(``unknown → online | offline``, ``offline → booting | online``, ``booting → online |
offline``, ``online → shutting_down | offline``, ``shutting_down → offline | online``);
anything else is logged and ignored, so a late or out-of-order signal can never put
the NAS into a state it cannot be in. The machine's state and ``since`` serialize to a
dict so that the Home Assistant layer can persist them across restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import logging
from typing import Any

_LOGGER = logging.getLogger(__name__)


class NasState(StrEnum):
    """Where the NAS is in its lifecycle."""

    UNKNOWN = "unknown"
    OFFLINE = "offline"
    BOOTING = "booting"
    ONLINE = "online"
    SHUTTING_DOWN = "shutting_down"


ALLOWED: Mapping[NasState, frozenset[NasState]] = {
    NasState.UNKNOWN: frozenset({NasState.ONLINE, NasState.OFFLINE}),
    NasState.OFFLINE: frozenset({NasState.BOOTING, NasState.ONLINE}),
    NasState.BOOTING: frozenset({NasState.ONLINE, NasState.OFFLINE}),
    NasState.ONLINE: frozenset({NasState.SHUTTING_DOWN, NasState.OFFLINE}),
    NasState.SHUTTING_DOWN: frozenset({NasState.OFFLINE, NasState.ONLINE}),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state, with why it happened."""

    old: NasState
    new: NasState
    reason: str
    at: datetime


class NasStateMachine:
    """The NAS's current state and since when it holds."""

    def __init__(
        self,
        state: NasState = NasState.UNKNOWN,
        since: datetime | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Start in ``state`` (restored, or unknown) at ``since`` (or now)."""
        self._clock = clock or (lambda: datetime.now(UTC))
        self.state = state
        self.since = since or self._clock()

    def can_go(self, new: NasState) -> bool:
        """Whether ``new`` is a state the NAS may move to from the current one."""
        return new in ALLOWED[self.state]

    def go(self, new: NasState, reason: str) -> Transition | None:
        """Move to ``new``; return the transition, or None when it is not allowed.

        Staying in the same state is no transition and not an error (heartbeats
        confirm the state all the time); a forbidden move is logged and ignored.
        """
        if new is self.state:
            return None
        if not self.can_go(new):
            _LOGGER.info(
                "Ignored NAS state change %s → %s (%s): not allowed",
                self.state,
                new,
                reason,
            )
            return None
        transition = Transition(self.state, new, reason, self._clock())
        self.state, self.since = new, transition.at
        return transition

    def as_dict(self) -> dict[str, str]:
        """What to persist."""
        return {"state": self.state.value, "since": self.since.isoformat()}

    @classmethod
    def from_dict(
        cls,
        stored: Mapping[str, Any] | None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> NasStateMachine:
        """Restore a persisted machine; anything unreadable starts over as unknown."""
        if stored is not None:
            try:
                state = NasState(stored["state"])
                since = datetime.fromisoformat(stored["since"])
            except (KeyError, TypeError, ValueError):
                _LOGGER.warning(
                    "Stored NAS state %r is unreadable; starting over", stored
                )
            else:
                if since.tzinfo is not None:
                    return cls(state, since, clock=clock)
        return cls(clock=clock)
