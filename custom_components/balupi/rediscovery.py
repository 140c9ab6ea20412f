"""Finding plugs again that stopped answering: when to search, and who moved.

Plain Python, no Home Assistant. A plug whose DHCP lease gave it another address is
gone from the address BaluPi knows; its MAC is still its own. ``SearchSchedule``
decides when one entry asks the network where its silent plugs are now (a broadcast
finds every plug at once): not at the first missed poll -- plugs drop off Wi-Fi for a
moment all the time -- and not at every poll after, but once a plug has been away for
a while and then at a bounded rate while any plug stays away. ``moved`` tells which of
the missing plugs answered the search from another address.
"""

from __future__ import annotations

from collections.abc import Mapping

from .plugs import PlugAddress


class SearchSchedule:
    """When to search for the plugs of one entry that do not answer."""

    def __init__(self, *, after: float, every: float) -> None:
        """Search once a plug has been away ``after`` s, then at most every ``every`` s.

        Times are seconds on a clock passed in by the caller; one that steps back
        only restarts the waits.
        """
        self._after = after
        self._every = every
        self._away_since: dict[str, float] = {}
        self._last_search: float | None = None

    @property
    def missing(self) -> frozenset[str]:
        """The MACs of the plugs whose last poll failed."""
        return frozenset(self._away_since)

    def failed(self, mac: str, now: float) -> bool:
        """A poll of the plug failed at ``now``; return whether to search now.

        A True answer counts as the search: the next one is ``every`` s later.
        """
        since = self._away_since.setdefault(mac, now)
        if since > now:
            since = self._away_since[mac] = now
        if now - since < self._after:
            return False
        if self._last_search is not None and 0 <= now - self._last_search < self._every:
            return False
        self._last_search = now
        return True

    def answered(self, mac: str) -> None:
        """A poll of the plug succeeded: it is not missing any more."""
        self._away_since.pop(mac, None)


def moved(
    known: Mapping[str, PlugAddress],
    found: Mapping[str, PlugAddress],
    missing: frozenset[str],
) -> dict[str, PlugAddress]:
    """The missing plugs that answered from another address, with that address.

    ``known``: where each plug (by MAC) is believed to be; ``found``: where devices
    answered a search, by MAC. A missing plug found where it is believed to be has not
    moved (it is still off, or its answer to the search came late).
    """
    return {
        mac: address
        for mac, address in found.items()
        if mac in missing and mac in known and _where(address) != _where(known[mac])
    }


def _where(address: PlugAddress) -> tuple[str, object]:
    return address.host, address.port or address.connection.get("http_port")
