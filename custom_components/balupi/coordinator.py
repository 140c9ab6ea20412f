"""Runtime data and coordinators of a BaluPi config entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import DOMAIN, HEALTH_TIMEOUT, LOGGER
from .nas_client import NasError, NasHealth, fetch_health
from .settings import ConnectionSettings, Options

type BaluPiConfigEntry = ConfigEntry[BaluPiData]


@dataclass(slots=True)
class BaluPiData:
    """What a loaded BaluPi entry holds at run time."""

    connection: ConnectionSettings
    options: Options
    heartbeat: NasHeartbeatCoordinator


@dataclass(frozen=True, slots=True)
class HeartbeatSample:
    """One answer (or silence) of the NAS's health endpoint."""

    checked_at: datetime
    health: NasHealth | None
    error: str | None
    """Why the NAS did not answer healthily; None when it did."""

    @property
    def reachable(self) -> bool:
        """Whether the NAS's API answered healthily."""
        return self.health is not None


class NasHeartbeatCoordinator(DataUpdateCoordinator[HeartbeatSample]):
    """Polls ``GET {nas_url}/api/health``.

    A NAS that does not answer is a normal state (it sleeps, it is off), not a failed
    update: the sample says so and the entities stay available. The change is logged
    once when the NAS stops answering and once when it is back.
    """

    config_entry: BaluPiConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BaluPiConfigEntry,
        connection: ConnectionSettings,
        options: Options,
        nas_device_id: str,
    ) -> None:
        """Poll at the heartbeat interval from the options."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} heartbeat",
            update_interval=timedelta(seconds=options.heartbeat_interval),
        )
        self._connection = connection
        self._nas_device_id = nas_device_id
        self._nas_version: str | None = None
        self._session = async_get_clientsession(hass)

    async def _async_update_data(self) -> HeartbeatSample:
        checked_at = dt_util.utcnow()
        try:
            health = await fetch_health(
                self._session, self._connection.nas_url, timeout=HEALTH_TIMEOUT
            )
        except NasError as err:
            sample = HeartbeatSample(checked_at, None, str(err))
        else:
            sample = HeartbeatSample(checked_at, health, None)
        self._log_change(sample)
        if sample.health is not None and sample.health.version is not None:
            self._update_device_version(sample.health.version)
        return sample

    def _log_change(self, sample: HeartbeatSample) -> None:
        was_reachable = self.data.reachable if self.data is not None else True
        if was_reachable and not sample.reachable:
            LOGGER.info(
                "BaluHost NAS at %s is not answering: %s",
                self._connection.nas_url,
                sample.error,
            )
        elif not was_reachable and sample.reachable:
            LOGGER.info(
                "BaluHost NAS at %s is answering again", self._connection.nas_url
            )

    def _update_device_version(self, version: str) -> None:
        if version != self._nas_version:
            self._nas_version = version
            dr.async_get(self.hass).async_update_device(
                self._nas_device_id, sw_version=version
            )
