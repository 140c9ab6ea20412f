"""Replay protection across entries and restarts: accepted pushes' signatures, stored.

One ``ReplayGuard`` serves every BaluPi entry, so a push accepted for one NAS is not
accepted again through another entry (two entries may share a secret). Its
signatures are kept in one store, ``balupi.accepted_pushes``; BaluPi 0.1 kept one store
per entry, earlier builds one store per entry: those are read once and removed when
the integration is set up.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .handshake import ReplayGuard

STORAGE_VERSION = 1
DATA_REPLAY: HassKey[ReplayKeeper] = HassKey(f"{DOMAIN}_replay")


def accepted_pushes_store(hass: HomeAssistant) -> Store[dict[str, int]]:
    """Where the signatures of every entry's accepted pushes are kept."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.accepted_pushes")


def replay_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, int]]:
    """Where BaluPi 0.1 kept one entry's accepted pushes (read once, then removed)."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.accepted_pushes")


class ReplayKeeper:
    """Saves what the guard accepted and gives it back after a restart.

    Each signature is accepted once while its timestamp is within the window; without
    this, a push recorded on the network in the last minute before a restart of Home
    Assistant would be accepted once more after it. Pushes are rare (a few a day), so
    each accepted one is saved at once, before it takes effect.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        """Keep the accepted pushes of every BaluPi entry of ``hass``."""
        self._hass = hass
        self._store = accepted_pushes_store(hass)
        self.guard = ReplayGuard()

    async def async_load(self, entry_ids: list[str]) -> None:
        """Give the guard what was accepted before the restart.

        Also what the entries ``entry_ids`` kept in stores of their own (earlier
        builds did); those are merged into the shared store and removed.
        """
        stored = await self._store.async_load()
        if isinstance(stored, dict):
            self.guard.restore_accepted(stored)
        found: list[Store[dict[str, int]]] = []
        for entry_id in entry_ids:
            store = replay_store(self._hass, entry_id)
            if (kept := await store.async_load()) is not None:
                found.append(store)
                if isinstance(kept, dict):
                    self.guard.restore_accepted(kept)
        if found:
            await self.async_save()
        for store in found:
            await store.async_remove()

    async def async_save(self) -> None:
        """Save what the guard has accepted (within the window).

        A storage that cannot be written (a full SD card) does not hold up the push:
        the signature is still refused again until Home Assistant restarts.
        """
        try:
            await self._store.async_save(self.guard.accepted)
        except (HomeAssistantError, OSError) as err:
            LOGGER.warning("Could not store the accepted push's signature: %s", err)
