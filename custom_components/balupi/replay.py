"""Replay protection across restarts: the accepted pushes' signatures, in storage."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER
from .handshake import PushVerifier

STORAGE_VERSION = 1


def replay_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, int]]:
    """Where the signatures of an entry's accepted pushes are kept."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.accepted_pushes")


class ReplayKeeper:
    """Saves what a verifier accepted and gives it back after a restart.

    Each signature is accepted once while its timestamp is within the window; without
    this, a push recorded on the network in the last minute before a restart of Home
    Assistant would be accepted once more after it. Pushes are rare (a few a day), so
    each accepted one is saved at once, before it takes effect.
    """

    def __init__(
        self, hass: HomeAssistant, entry_id: str, verifier: PushVerifier
    ) -> None:
        """Keep what ``verifier`` of entry ``entry_id`` accepts."""
        self._store = replay_store(hass, entry_id)
        self._verifier = verifier

    async def async_load(self) -> None:
        """Give the verifier what it accepted before the restart."""
        stored = await self._store.async_load()
        if isinstance(stored, dict):
            self._verifier.restore_accepted(stored)

    async def async_save(self) -> None:
        """Save what the verifier has accepted (within the window).

        A storage that cannot be written (a full SD card) does not hold up the push:
        the signature is still refused again until Home Assistant restarts.
        """
        try:
            await self._store.async_save(self._verifier.accepted)
        except (HomeAssistantError, OSError) as err:
            LOGGER.warning("Could not store the accepted push's signature: %s", err)
