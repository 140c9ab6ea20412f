"""Runtime data and coordinators of a BaluPi config entry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
import os
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from kasa import KasaException

from .const import (
    CONF_MAC,
    CONF_MEASURES,
    CONF_MODEL,
    DISCOVERY_TARGET,
    DOMAIN,
    ENV_DISCOVERY_TARGET,
    LOGGER,
    SEARCH_AFTER,
    SEARCH_EVERY,
    SEARCH_TIMEOUT,
)
from .counter_store import CounterKeeper
from .handshake import PushVerifier
from .lifecycle import NasLifecycleCoordinator
from .plug_flow import moved_data, stored_measures, subentry_address
from .plugs import (
    PlugAddress,
    PlugAuthError,
    PlugClient,
    PlugError,
    PlugReading,
    find_addresses,
)
from .rediscovery import SearchSchedule, moved
from .replay import ReplayKeeper
from .settings import ConnectionSettings, Options

type BaluPiConfigEntry = ConfigEntry[BaluPiData]


@dataclass(frozen=True, slots=True)
class EntryConfiguration:
    """What a BaluPi entry is set up from; applying a change to any of it takes a reload."""

    data: dict[str, Any]
    options: Options
    plugs: dict[str, dict[str, Any]]
    """Each plug sub-entry's data, by sub-entry ID."""


@dataclass(slots=True)
class BaluPiData:
    """What a loaded BaluPi entry holds at run time."""

    connection: ConnectionSettings
    options: Options
    nas: NasLifecycleCoordinator
    verifier: PushVerifier
    """Checks the NAS's signed pushes against this entry's secret."""
    replay: ReplayKeeper
    """Keeps what the verifiers of all entries accepted, across restarts."""
    configuration: EntryConfiguration
    """What the entry was set up from: a change to it reloads the entry."""
    plugs: dict[str, PlugCoordinator] = field(default_factory=dict)
    """One coordinator per plug, by the plug's config subentry ID."""
    rejected_by: set[str] = field(default_factory=set)
    """MACs of the plugs that rejected the Tapo account at their last read."""
    reload_scheduled: bool = False
    """A reload is on its way: further changes before it are applied by that one."""
    search: PlugSearch | None = None
    """Finds the entry's plugs again when they stop answering (with plugs only)."""

    @property
    def nas_plug(self) -> PlugCoordinator | None:
        """The coordinator of the plug that powers the NAS, if one is marked."""
        for plug in self.plugs.values():
            if plug.mac == self.options.nas_plug:
                return plug
        return None


def tapo_auth_issue_id(entry: BaluPiConfigEntry) -> str:
    """ID of the repair issue raised when plugs reject the Tapo account."""
    return f"tapo_auth_{entry.entry_id}"


class PlugCoordinator(DataUpdateCoordinator[PlugReading]):
    """Polls one Tapo plug.

    Every plug has its own coordinator, so a slow or dead plug delays nobody else's
    values and goes unavailable alone. The energy counters it publishes never go
    back except when the plug's own clock starts a new day or month.
    """

    config_entry: BaluPiConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BaluPiConfigEntry,
        client: PlugClient,
        subentry: ConfigSubentry,
        options: Options,
        counters: CounterKeeper,
        search: PlugSearch | None = None,
    ) -> None:
        """Poll the plug of ``subentry`` at the plug interval from the options.

        Its energy counters start where ``counters`` kept them before the restart;
        ``search`` is told when it stops and starts answering.
        """
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} plug {subentry.title}",
            update_interval=timedelta(seconds=options.plug_poll_interval),
        )
        self.subentry_id = subentry.subentry_id
        self.title = subentry.title
        self.mac: str = subentry.data[CONF_MAC]
        self.model: str = subentry.data[CONF_MODEL]
        self.address = subentry_address(subentry.data)
        self.measures = stored_measures(subentry.data)
        """What the plug measures as its entities were made; None: not yet known."""
        self.asked = False
        """Whether the plug has been asked at least once (answered or not)."""
        self.device_id: str | None = None
        """The plug's device, once created; its firmware version follows the plug."""
        self._client = client
        self._search = search
        self._keeper = counters
        self._counters = counters.counters(subentry.subentry_id)

    async def _async_update_data(self) -> PlugReading:
        try:
            reading = await self._read()
        finally:
            self.asked = True
        self._account_accepted()
        self._keep_measures(reading)
        if (
            self.device_id is not None
            and reading.firmware is not None
            and (self.data is None or self.data.firmware != reading.firmware)
        ):
            dr.async_get(self.hass).async_update_device(
                self.device_id, sw_version=reading.firmware
            )
        return self.counted(reading)

    async def _read(self) -> PlugReading:
        """Read the plug; turn its errors into what the coordinator understands."""
        try:
            reading = await self._client.read(self.address, self.mac)
        except PlugAuthError as err:
            self._raise_auth_issue()
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="tapo_auth",
                translation_placeholders={"plug": self.title, "error": str(err)},
            ) from err
        except PlugError as err:
            if self._search is not None:
                self._search.async_failed(self.mac)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="plug_unreachable",
                translation_placeholders={"plug": self.title, "error": str(err)},
            ) from err
        if self._search is not None:
            self._search.answered(self.mac)
        return reading

    @callback
    def async_follow(self, subentry: ConfigSubentry) -> None:
        """Read the plug where its subentry now says it is (found again, reconfigured)."""
        address = subentry_address(subentry.data)
        if address != self.address:
            LOGGER.info(
                "Tapo plug %s (%s) is now read at %s", self.title, self.mac, address.key
            )
            self.address = address
            self.config_entry.async_create_task(
                self.hass,
                self.async_request_refresh(),
                f"balupi read {self.title} at its new address",
            )

    def _keep_measures(self, reading: PlugReading) -> None:
        """Store what the plug measures when it differs from what its entities show.

        The entry's update listener then reloads it, and the plug gets entities for
        what it really measures (a P110 on its first firmware: no voltage, no current).
        """
        if reading.measures is None or reading.measures == self.measures:
            return
        subentry = self.config_entry.subentries.get(self.subentry_id)
        if subentry is None:
            return
        self.hass.config_entries.async_update_subentry(
            self.config_entry,
            subentry,
            data={**subentry.data, CONF_MEASURES: sorted(reading.measures)},
        )

    async def async_set_on(self, on: bool) -> None:
        """Switch the plug and publish its state; raise a translated error if it fails."""
        try:
            reading = await self._client.set_on(self.address, on, self.mac)
        except PlugAuthError as err:
            self._raise_auth_issue()
            self.config_entry.async_start_reauth(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="tapo_auth",
                translation_placeholders={"plug": self.title, "error": str(err)},
            ) from err
        except PlugError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="plug_unreachable",
                translation_placeholders={"plug": self.title, "error": str(err)},
            ) from err
        self.async_set_updated_data(self.counted(reading))

    def counted(self, reading: PlugReading) -> PlugReading:
        """Return the reading with its energy counters held monotonic per period."""
        before = self._counters.as_stored()
        today, month = self._counters.count(
            reading.energy_today, reading.energy_month, reading.device_time
        )
        if self._counters.as_stored() != before:
            self._keeper.async_changed()
        return replace(reading, energy_today=today, energy_month=month)

    def _account_accepted(self) -> None:
        """Withdraw the repair issue once no plug rejects the account any more."""
        rejected_by = self.config_entry.runtime_data.rejected_by
        rejected_by.discard(self.mac)
        if not rejected_by:
            ir.async_delete_issue(
                self.hass, DOMAIN, tapo_auth_issue_id(self.config_entry)
            )

    def _raise_auth_issue(self) -> None:
        self.config_entry.runtime_data.rejected_by.add(self.mac)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            tapo_auth_issue_id(self.config_entry),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="tapo_auth",
            translation_placeholders={"plug": self.title},
        )


class PlugSearch:
    """Asks the network where an entry's plugs are when they stop answering.

    One search (a python-kasa discovery, ``SEARCH_TIMEOUT`` s) finds every plug that
    answers; the ``SearchSchedule`` keeps it rare. A missing plug that answered from
    another address gets that address in its subentry, and its coordinator follows.
    """

    def __init__(self, hass: HomeAssistant, entry: BaluPiConfigEntry) -> None:
        """Search for the plugs of ``entry``."""
        self._hass = hass
        self._entry = entry
        self._schedule = SearchSchedule(after=SEARCH_AFTER, every=SEARCH_EVERY)
        self._task: asyncio.Task[None] | None = None
        self.clock: Callable[[], float] = time.monotonic
        """Seconds for the schedule; tests may replace it to let time pass."""

    @callback
    def async_failed(self, mac: str) -> None:
        """A poll of the plug failed; search in the background when it is time."""
        if self._schedule.failed(mac, self.clock()) and self._task is None:
            self._task = self._entry.async_create_background_task(
                self._hass, self._search(), "balupi search for moved plugs"
            )

    @callback
    def answered(self, mac: str) -> None:
        """A poll of the plug succeeded."""
        self._schedule.answered(mac)

    async def _search(self) -> None:
        try:
            found = await find_addresses(
                target=os.environ.get(ENV_DISCOVERY_TARGET, "").strip()
                or DISCOVERY_TARGET,
                discovery_timeout=SEARCH_TIMEOUT,
            )
        except (KasaException, OSError) as err:
            LOGGER.debug("Searching for moved Tapo plugs failed: %s", err)
            return
        finally:
            self._task = None
        self._follow(found)

    @callback
    def _follow(self, found: dict[str, PlugAddress]) -> None:
        plugs = self._entry.runtime_data.plugs.values()
        known = {plug.mac: plug.address for plug in plugs}
        for mac, address in moved(known, found, self._schedule.missing).items():
            plug = next(plug for plug in plugs if plug.mac == mac)
            subentry = self._entry.subentries.get(plug.subentry_id)
            if subentry is None:
                continue
            LOGGER.info(
                "Tapo plug %s (%s) answers at %s now", plug.title, mac, address.key
            )
            self._hass.config_entries.async_update_subentry(
                self._entry, subentry, data=moved_data(subentry.data, address)
            )
