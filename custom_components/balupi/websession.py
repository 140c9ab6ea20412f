"""HTTP sessions for the plugs, on Home Assistant's shared connection pool.

The NAS's health check and the Pi-hole use Home Assistant's shared session (their
clients turn its decompression off per request). python-kasa cannot do that, and it
clears and reads its session's cookie jar around every request, so each plug gets a
session of its own (see ``plugs``): made with ``async_create_clientsession`` like core
``tplink`` does, so all of them share Home Assistant's connector and resolver instead
of each plug bringing its own, with python-kasa's cookie jar and without automatic
decompression.
"""

from __future__ import annotations

import aiohttp
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from kasa.httpclient import get_cookie_jar


class PlugSessions:
    """Makes the plugs' HTTP sessions (a ``PlugClient`` session factory)."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Make sessions for ``hass``; the owner calls ``detach`` when done."""
        self._hass = hass
        self._sessions: list[aiohttp.ClientSession] = []

    @callback
    def __call__(self) -> aiohttp.ClientSession:
        """A new session for one plug."""
        session = async_create_clientsession(
            self._hass,
            # As core tplink: devices that speak HTTPS have self-signed certificates.
            verify_ssl=False,
            # Not tied to whichever config entry happens to be set up right now: the
            # owner detaches them, at unload or at the end of a flow step.
            auto_cleanup=False,
            cookie_jar=get_cookie_jar(),
            auto_decompress=False,
        )
        self._sessions.append(session)
        return session

    @callback
    def detach(self) -> None:
        """Let go of every session made, leaving the shared connection pool open."""
        while self._sessions:
            self._sessions.pop().detach()
