"""Where ``baluhost.local`` points: the NAS while it is up, the Pi while it is away.

The lifecycle decides the target at each NAS state change; this keeps the Pi-hole's
local DNS record on it. A switch that fails (Pi-hole restarting, unreachable) is
tried again at every heartbeat until it succeeds. A switch asked for through the
``balupi.switch_dns`` action holds until the NAS's next state change. A Pi-hole that
stops accepting the stored password asks its owner for a new one (re-authentication)
once, when it starts refusing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .pihole import (
    PiholeAuthError,
    PiholeClient,
    PiholeError,
    PiholeRateLimitError,
    PiholeReadOnlyError,
    PiholeSeatsError,
    PiholeUnreachableError,
    validate_hostname,
)
from .settings import PiholeSettings


class DnsTarget(StrEnum):
    """Which machine the hostname should point to."""

    NAS = "nas"
    PI = "pi"


class DnsPointer(StrEnum):
    """Which machine the hostname points to, as the Pi-hole has it."""

    NAS = "nas"
    PI = "pi"
    OTHER = "other"
    """An address that is neither the NAS's nor the Pi's, or several."""
    NONE = "none"
    """No local record: the name resolves upstream, if at all."""


@dataclass(frozen=True, slots=True)
class DnsStatus:
    """The hostname's record as last read, or why it could not be read."""

    checked_at: datetime
    pointer: DnsPointer | None
    addresses: tuple[str, ...] = ()
    error: str | None = None


# Pi-hole errors the user has to fix in Pi-hole, as repair issues; a rejected password
# starts a re-authentication instead; the others pass by themselves.
ISSUES: dict[type[PiholeError], str] = {
    PiholeReadOnlyError: "pihole_read_only",
}
EXCEPTIONS: dict[type[PiholeError], str] = {
    **ISSUES,
    PiholeAuthError: "pihole_auth",
    PiholeSeatsError: "pihole_seats",
    PiholeRateLimitError: "pihole_rate_limit",
    PiholeUnreachableError: "pihole_unreachable",
}


class DnsSwitcher:
    """Keeps one Pi-hole's record for the NAS's hostname on the wanted machine."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        client: PiholeClient,
        settings: PiholeSettings,
        *,
        nas_ip: str,
        pi_ip: str,
        on_rejected: Callable[[], None] = lambda: None,
    ) -> None:
        """Switch ``settings.hostname`` between ``nas_ip`` and ``pi_ip``.

        ``on_rejected`` is called when the Pi-hole starts rejecting the password.
        """
        self._hass = hass
        self._entry_id = entry_id
        self._client = client
        self.settings = settings
        self._ips = {DnsTarget.NAS: nas_ip, DnsTarget.PI: pi_ip}
        self.wanted: DnsTarget | None = None
        """Where the hostname should point; None until a state change says so."""
        self.status: DnsStatus | None = None
        self._switched = False
        """Whether the record is known to be on ``wanted``."""
        self._reachable = True
        self._on_rejected = on_rejected
        self.rejected = False
        """Whether the Pi-hole rejected the password at the last request."""

    async def async_switch(self, target: DnsTarget) -> bool:
        """Point the hostname at ``target`` from now on; whether it is done already.

        A failure is logged and the switch is tried again at the next check.
        """
        self.wanted, self._switched = target, False
        try:
            await self._point(self.settings.hostname, target)
        except PiholeError as err:
            self._failed(err)
            return False
        return True

    async def async_ensure(self, target: DnsTarget) -> bool:
        """Like ``async_switch``, but without a request when the record is right."""
        if self.points_to(target):
            return True
        return await self.async_switch(target)

    def points_to(self, target: DnsTarget) -> bool:
        """Whether the record is known to point at ``target`` now."""
        return self.wanted is target and self._switched

    async def async_switch_now(self, target: DnsTarget, hostname: str) -> str:
        """Point ``hostname`` at ``target`` for the action; raise what went wrong.

        Returns the host name as written (lower case).
        """
        try:
            name = validate_hostname(hostname.strip())
        except ValueError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_hostname",
                translation_placeholders={"hostname": hostname},
            ) from err
        managed = name == self.settings.hostname
        if managed:
            # The user's choice holds until the NAS's next state change.
            self.wanted, self._switched = target, False
        try:
            await self._point(name, target)
        except PiholeError as err:
            self._failed(err, record=managed)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=EXCEPTIONS.get(type(err), "pihole_failed"),
                translation_placeholders={"url": self.settings.url, "error": str(err)},
            ) from err
        return name

    async def async_check(self) -> None:
        """Read where the hostname points; finish a switch that failed before."""
        try:
            if self.wanted is not None and not self._switched:
                await self._point(self.settings.hostname, self.wanted)
            else:
                self._succeeded(await self._client.where(self.settings.hostname))
        except PiholeError as err:
            self._failed(err)

    async def async_close(self) -> None:
        """End the Pi-hole session."""
        await self._client.close()

    async def _point(self, hostname: str, target: DnsTarget) -> None:
        ip = self._ips[target]
        if await self._client.point(hostname, ip):
            LOGGER.info("%s now points to the %s at %s", hostname, target.value, ip)
        if hostname == self.settings.hostname:
            self._switched = target is self.wanted
            self._succeeded([ip], wrote=True)

    def _succeeded(self, addresses: list[str], *, wrote: bool = False) -> None:
        if not self._reachable:
            LOGGER.info("Pi-hole at %s answers again", self.settings.url)
        self._reachable = True
        self.rejected = False
        # Only a write proves the right to change.
        if wrote:
            ir.async_delete_issue(
                self._hass, DOMAIN, self._issue_id("pihole_read_only")
            )
        self.status = DnsStatus(
            dt_util.utcnow(), self._pointer(addresses), tuple(addresses)
        )

    def _failed(self, err: PiholeError, *, record: bool = True) -> None:
        if self._reachable:
            LOGGER.warning(
                "Pi-hole at %s failed: %s; BaluPi tries again at the next heartbeat",
                self.settings.url,
                err,
            )
        self._reachable = False
        if isinstance(err, PiholeAuthError) and not self.rejected:
            self.rejected = True
            self._on_rejected()
        if (issue := ISSUES.get(type(err))) is not None:
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                self._issue_id(issue),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=issue,
                translation_placeholders={"url": self.settings.url},
            )
        if record:
            self.status = DnsStatus(dt_util.utcnow(), None, error=str(err))

    def _pointer(self, addresses: list[str]) -> DnsPointer:
        if not addresses:
            return DnsPointer.NONE
        if addresses == [self._ips[DnsTarget.NAS]]:
            return DnsPointer.NAS
        if addresses == [self._ips[DnsTarget.PI]]:
            return DnsPointer.PI
        return DnsPointer.OTHER

    def _issue_id(self, issue: str) -> str:
        return f"{issue}_{self._entry_id}"
