"""Finding Tapo plugs in the config flow, and the flow that adds a plug later.

Each plug is a config subentry of the BaluPi entry: "Add Tapo plug" on the entry adds
one without touching the others, deleting the subentry removes the plug's device and
entities, and either reloads the entry so the change shows at once. A plug's subentry
can be reconfigured: its new address is checked to be the same plug (by its MAC), and
the plug is read there from then on, with the same device and entities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from typing import TYPE_CHECKING, Any

import aiohttp
from homeassistant.config_entries import (
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
    CONF_MEASURES,
    CONF_MODEL,
    CONF_PORT,
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

if TYPE_CHECKING:
    from .coordinator import BaluPiConfigEntry

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
            **address_data(self.address),
            CONF_MAC: self.reading.mac,
            CONF_MODEL: self.reading.model,
        }
        if self.reading.measures is not None:
            data[CONF_MEASURES] = sorted(self.reading.measures)
        return ConfigSubentryData(
            data=data,
            subentry_type=SUBENTRY_PLUG,
            title=self.reading.alias or self.reading.model,
            unique_id=self.reading.mac,
        )


def plug_subentries(entry: BaluPiConfigEntry) -> list[ConfigSubentry]:
    """The entry's plugs (its only kind of subentry so far)."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_PLUG]


def subentry_address(data: Mapping[str, Any]) -> PlugAddress:
    """Where the plug of a subentry is (the reverse of ``address_data``)."""
    return PlugAddress(
        host=data[CONF_HOST], connection=data[CONF_CONNECTION], port=data.get(CONF_PORT)
    )


def address_data(address: PlugAddress) -> dict[str, Any]:
    """The subentry data that says where a plug is."""
    data: dict[str, Any] = {
        CONF_HOST: address.host,
        CONF_CONNECTION: dict(address.connection),
    }
    if address.port is not None:
        data[CONF_PORT] = address.port
    return data


def moved_data(data: Mapping[str, Any], address: PlugAddress) -> dict[str, Any]:
    """A plug subentry's data with the plug at ``address``."""
    kept = {k: v for k, v in data.items() if k not in (CONF_HOST, CONF_CONNECTION)}
    kept.pop(CONF_PORT, None)
    return {**kept, **address_data(address)}


def stored_measures(data: Mapping[str, Any]) -> frozenset[str] | None:
    """What the subentry's plug measures; None until it has been read once."""
    measures = data.get(CONF_MEASURES)
    return None if measures is None else frozenset(measures)


def plug_host_text(data: Mapping[str, Any]) -> str:
    """The address of a subentry's plug as the user types it (``host[:port]``)."""
    host = str(data[CONF_HOST])
    if ":" in host:
        host = f"[{host}]"
    return host if data.get(CONF_PORT) is None else f"{host}:{data[CONF_PORT]}"


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

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Give the plug's new address (empty: search the network for its MAC)."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            username = entry.data.get(CONF_TAPO_USERNAME)
            if not username:
                return self.async_abort(reason="account_required")
            host_text = user_input.get(CONF_PLUG_HOST, "")
            found, errors = await find_plugs(
                self.hass,
                Credentials(username, entry.data.get(CONF_TAPO_PASSWORD, "")),
                host_text,
            )
            mac = subentry.data[CONF_MAC]
            same = [plug for plug in found if plug.reading.mac == mac]
            if same:
                data = moved_data(subentry.data, same[0].address)
                if (measures := same[0].reading.measures) is not None:
                    data[CONF_MEASURES] = sorted(measures)
                return self.async_update_and_abort(entry, subentry, data=data)
            if not host_text.strip():  # searched: other plugs, or none, answered
                errors = {"base": "plug_not_found"}
            elif found:
                errors = {CONF_PLUG_HOST: "wrong_plug"}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(HOST_FIELD),
                user_input or {CONF_PLUG_HOST: plug_host_text(subentry.data)},
            ),
            errors=errors,
            description_placeholders={
                "plug": subentry.title,
                "mac": subentry.data[CONF_MAC],
            },
        )

    def _create(self, plug: FoundPlug) -> SubentryFlowResult:
        subentry = plug.subentry()
        return self.async_create_entry(
            title=subentry["title"],
            data=subentry["data"],
            unique_id=subentry["unique_id"],
        )
