"""Finding Tapo plugs in the config flow, and the flow that adds a plug later.

Each plug is a config subentry of the BaluPi entry: "Add Tapo plug" on the entry adds
one without touching the others, deleting the subentry removes the plug's device and
entities, and either reloads the entry so the change shows at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from typing import Any

import aiohttp
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigSubentry,
    ConfigSubentryData,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from kasa import Credentials

from .const import (
    CONF_CONNECTION,
    CONF_HOST,
    CONF_MAC,
    CONF_MODEL,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    DISCOVERY_TARGET,
    ENV_DISCOVERY_TARGET,
    SUBENTRY_PLUG,
)
from .plugs import (
    PlugAddress,
    PlugAuthError,
    PlugError,
    PlugReading,
    PlugUnsupportedError,
    discover_plugs,
    probe_plug,
)
from .schema import vol
from .validation import parse_plug_host
from .websession import PlugSessions

CONF_PLUG_HOST = "plug_host"
CONF_PLUGS = "plugs"
CONF_PLUG = "plug"

ACCOUNT_FIELDS = {
    vol.Optional(CONF_TAPO_USERNAME): TextSelector(
        TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="username")
    ),
    vol.Optional(CONF_TAPO_PASSWORD): TextSelector(
        TextSelectorConfig(
            type=TextSelectorType.PASSWORD, autocomplete="current-password"
        )
    ),
}
HOST_FIELD = {vol.Optional(CONF_PLUG_HOST): TextSelector()}


@dataclass(frozen=True, slots=True)
class FoundPlug:
    """A plug that answered with the account."""

    address: PlugAddress
    reading: PlugReading

    @property
    def label(self) -> str:
        """How the plug is shown in a list: its name, model and address."""
        name = self.reading.alias or self.reading.model
        return f"{name} ({self.reading.model}, {self.address.key})"

    def subentry(self) -> ConfigSubentryData:
        """The config subentry that stores this plug."""
        data: dict[str, Any] = {
            CONF_HOST: self.address.host,
            CONF_CONNECTION: dict(self.address.connection),
            CONF_MAC: self.reading.mac,
            CONF_MODEL: self.reading.model,
        }
        if self.address.port is not None:
            data["port"] = self.address.port
        return ConfigSubentryData(
            data=data,
            subentry_type=SUBENTRY_PLUG,
            title=self.reading.alias or self.reading.model,
            unique_id=self.reading.mac,
        )


def plug_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """The entry's plugs (its only kind of subentry so far)."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_PLUG]


def subentry_address(data: Mapping[str, Any]) -> PlugAddress:
    """Where the plug of a subentry is (the reverse of ``FoundPlug.subentry``)."""
    return PlugAddress(
        host=data[CONF_HOST], connection=data[CONF_CONNECTION], port=data.get("port")
    )


async def find_plugs(
    hass: HomeAssistant, credentials: Credentials, host_text: str
) -> tuple[list[FoundPlug], dict[str, str]]:
    """Return the plugs the account opens, or the form errors that explain why none.

    With an address, only that plug is asked; without, the network is searched.
    """
    sessions = PlugSessions(hass)
    try:
        return await _find_plugs(credentials, host_text, sessions())
    finally:
        sessions.detach()


async def _find_plugs(
    credentials: Credentials, host_text: str, session: aiohttp.ClientSession
) -> tuple[list[FoundPlug], dict[str, str]]:
    errors: dict[str, str] = {}
    if host_text.strip():
        try:
            host, port = parse_plug_host(host_text)
        except ValueError:
            return [], {CONF_PLUG_HOST: "invalid_plug_host"}
        try:
            address, reading = await probe_plug(
                host, credentials, port=port, http_session=session
            )
        except PlugAuthError:
            errors["base"] = "invalid_auth"
        except PlugUnsupportedError:
            errors[CONF_PLUG_HOST] = "not_energy_plug"
        except PlugError:
            errors[CONF_PLUG_HOST] = "cannot_connect"
        else:
            return [FoundPlug(address, reading)], {}
        return [], errors
    found = await discover_plugs(
        credentials, target=discovery_target(), http_session=session
    )
    if not found:
        return [], {"base": "no_plugs_found"}
    return [FoundPlug(address, reading) for address, reading in found], {}


def discovery_target() -> str:
    """Where plug discovery asks: every device on the local network.

    ``BALUPI_DISCOVERY_TARGET`` replaces it; ``scripts/develop`` sets it to
    127.0.0.1 so that its demo searches its own simulated plugs and nothing else.
    """
    return os.environ.get(ENV_DISCOVERY_TARGET, "").strip() or DISCOVERY_TARGET


def plug_options(plugs: list[FoundPlug]) -> list[SelectOptionDict]:
    """Select options for a list of found plugs, by MAC."""
    return [
        SelectOptionDict(value=plug.reading.mac, label=plug.label) for plug in plugs
    ]


class PlugSubentryFlow(ConfigSubentryFlow):
    """Add one Tapo plug to a BaluPi entry."""

    def __init__(self) -> None:
        """Start with no plugs found."""
        self._found: list[FoundPlug] = []

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the plug's address (empty: search the network)."""
        entry = self._get_entry()
        has_account = bool(entry.data.get(CONF_TAPO_USERNAME))
        errors: dict[str, str] = {}
        if user_input is not None:
            username = user_input.get(CONF_TAPO_USERNAME, "").strip()
            password = user_input.get(CONF_TAPO_PASSWORD, "")
            if has_account:
                username = entry.data[CONF_TAPO_USERNAME]
                password = entry.data[CONF_TAPO_PASSWORD]
            if not username:
                errors[CONF_TAPO_USERNAME] = "account_required"
            else:
                found, errors = await find_plugs(
                    self.hass,
                    Credentials(username, password),
                    user_input.get(CONF_PLUG_HOST, ""),
                )
                known = {subentry.unique_id for subentry in entry.subentries.values()}
                self._found = [p for p in found if p.reading.mac not in known]
                if found and not self._found:
                    return self.async_abort(reason="already_configured")
                if self._found and not has_account:
                    self.hass.config_entries.async_update_entry(
                        entry,
                        data={
                            **entry.data,
                            CONF_TAPO_USERNAME: username,
                            CONF_TAPO_PASSWORD: password,
                        },
                    )
                if self._found and user_input.get(CONF_PLUG_HOST, "").strip():
                    return self._create(self._found[0])
                if self._found:  # found by searching: let the user choose
                    return await self.async_step_pick()
        schema = vol.Schema({**({} if has_account else ACCOUNT_FIELDS), **HOST_FIELD})
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )

    async def async_step_pick(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose one of the plugs found on the network."""
        if user_input is not None:
            chosen = next(
                p for p in self._found if p.reading.mac == user_input[CONF_PLUG]
            )
            return self._create(chosen)
        return self.async_show_form(
            step_id="pick",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_PLUG): SelectSelector(
                        SelectSelectorConfig(options=plug_options(self._found))
                    )
                }
            ),
        )

    def _create(self, plug: FoundPlug) -> SubentryFlowResult:
        subentry = plug.subentry()
        return self.async_create_entry(
            title=subentry["title"],
            data=subentry["data"],
            unique_id=subentry["unique_id"],
        )
