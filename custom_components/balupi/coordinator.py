"""Runtime data and coordinators of a BaluPi config entry."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import CONF_MAC, CONF_MODEL, DOMAIN, LOGGER
from .counter_store import CounterKeeper
from .handshake import PushVerifier
from .lifecycle import NasLifecycleCoordinator
from .plug_flow import subentry_address
from .plugs import PlugAuthError, PlugClient, PlugError, PlugReading
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
    ) -> None:
        """Poll the plug of ``subentry`` at the plug interval from the options.

        Its energy counters start where ``counters`` kept them before the restart.
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
        self.asked = False
        """Whether the plug has been asked at least once (answered or not)."""
        self.device_id: str | None = None
        """The plug's device, once created; its firmware version follows the plug."""
        self._client = client
        self._keeper = counters
        self._counters = counters.counters(subentry.subentry_id)

    async def _async_update_data(self) -> PlugReading:
        try:
            reading = await self._read()
        finally:
            self.asked = True
        self._account_accepted()
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
            return await self._client.read(self.address)
        except PlugAuthError as err:
            self._raise_auth_issue()
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="tapo_auth",
                translation_placeholders={"plug": self.title, "error": str(err)},
            ) from err
        except PlugError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="plug_unreachable",
                translation_placeholders={"plug": self.title, "error": str(err)},
            ) from err

    async def async_set_on(self, on: bool) -> None:
        """Switch the plug and publish its state; raise a translated error if it fails."""
        try:
            reading = await self._client.set_on(self.address, on)
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
