"""Config, reconfigure and options flows for BaluPi.

The NAS may be asleep while the user sets BaluPi up, so the flow probes
``GET {url}/api/health`` and reports what it found, but never refuses a NAS that does
not answer: the user may save anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, override

from homeassistant.components import webhook
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from kasa import Credentials

from .const import (
    CONF_ACTIVE_ABOVE,
    CONF_BOOT_TIMEOUT,
    CONF_ENERGY_PRICE,
    CONF_FAST_HEARTBEAT_INTERVAL,
    CONF_HANDSHAKE_SECRET,
    CONF_HEARTBEAT_FAILURES,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_INBOX_FOLDER,
    CONF_INBOX_SETTLE_TIME,
    CONF_MAC,
    CONF_NAS_HOSTNAME,
    CONF_NAS_IP,
    CONF_NAS_MAC,
    CONF_NAS_PLUG,
    CONF_NAS_URL,
    CONF_PI_IP,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_PLUG_POLL_INTERVAL,
    CONF_POWER_OFF_BELOW,
    CONF_SPARE_SLEEPING_NAS,
    CONF_SSH_PRIVATE_KEY,
    CONF_SSH_PUBLIC_KEY,
    CONF_STANDBY_MAX,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
    CONF_WOL_BROADCAST,
    CONF_WOL_PORT,
    DEFAULT_HA_PORT,
    DEFAULT_OPTIONS,
    DOMAIN,
    HEALTH_TIMEOUT,
    REAUTH_OF,
    REAUTH_PIHOLE,
    SUBENTRY_PLUG,
)
from .handshake_flow import (
    INBOX_SCHEMA,
    NO_INBOX,
    PIHOLE_SCHEMA,
    check_inbox,
    check_inbox_folder,
    check_pihole,
)
from .inbox import generate_key_pair
from .nas_client import NasError, fetch_health
from .net import async_mac_of
from .plug_flow import (
    ACCOUNT_FIELDS,
    CONF_PLUG_HOST,
    CONF_PLUGS,
    HOST_FIELD,
    FoundPlug,
    PlugSubentryFlow,
    find_plugs,
    plug_options,
    plug_subentries,
    subentry_address,
)
from .plugs import PlugAuthError, PlugClient, PlugError
from .schema import vol
from .settings import Options
from .validation import (
    check_secret,
    generate_secret,
    ip_of_url,
    normalize_base_url,
    normalize_ip,
    normalize_mac,
)
from .websession import PlugSessions

if TYPE_CHECKING:
    from .coordinator import BaluPiConfigEntry

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_TEXT = TextSelector(TextSelectorConfig(type=TextSelectorType.TEXT))
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

_NAS_FIELDS = {
    vol.Required(CONF_NAS_URL): _URL,
    vol.Optional(CONF_NAS_IP): _TEXT,
}
USER_SCHEMA = vol.Schema(
    {
        **_NAS_FIELDS,
        vol.Required(CONF_NAS_MAC): _TEXT,
        vol.Required(CONF_PI_IP): _TEXT,
        vol.Optional(CONF_HANDSHAKE_SECRET): _SECRET,
    }
)
RECONFIGURE_SCHEMA = vol.Schema(
    {
        **_NAS_FIELDS,
        vol.Required(CONF_PI_IP): _TEXT,
        vol.Optional(CONF_HANDSHAKE_SECRET): _SECRET,
    }
)


REAUTH_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_TAPO_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="username")
        ),
        vol.Required(CONF_TAPO_PASSWORD): _SECRET,
    }
)
REAUTH_PIHOLE_SCHEMA = vol.Schema({vol.Required(CONF_PIHOLE_PASSWORD): _SECRET})


def _number(low: float, high: float, step: float, unit: str) -> NumberSelector:
    config = NumberSelectorConfig(
        min=low, max=high, step=step, mode=NumberSelectorMode.BOX
    )
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PLUG_POLL_INTERVAL): _number(10, 3600, 1, "s"),
        vol.Required(CONF_HEARTBEAT_INTERVAL): _number(10, 3600, 1, "s"),
        vol.Required(CONF_FAST_HEARTBEAT_INTERVAL): _number(2, 60, 1, "s"),
        vol.Required(CONF_HEARTBEAT_FAILURES): _number(1, 10, 1, ""),
        vol.Required(CONF_BOOT_TIMEOUT): _number(30, 3600, 1, "s"),
        vol.Required(CONF_POWER_OFF_BELOW): _number(0, 100, 0.1, "W"),
        vol.Required(CONF_STANDBY_MAX): _number(0, 1000, 0.1, "W"),
        vol.Required(CONF_ACTIVE_ABOVE): _number(0, 3000, 0.1, "W"),
        vol.Required(CONF_ENERGY_PRICE): _number(0, 1000, 0.01, "ct/kWh"),
        vol.Required(CONF_SPARE_SLEEPING_NAS): BooleanSelector(),
        vol.Required(CONF_WOL_BROADCAST): _TEXT,
        vol.Required(CONF_WOL_PORT): _number(1, 65535, 1, ""),
        vol.Required(CONF_INBOX_SETTLE_TIME): _number(0, 3600, 1, "s"),
    }
)


def _validate_connection(
    user_input: dict[str, Any], *, with_mac: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """Return the normalized connection data and field errors for a form."""
    data: dict[str, str] = {}
    errors: dict[str, str] = {}
    try:
        data[CONF_NAS_URL] = normalize_base_url(user_input[CONF_NAS_URL])
    except ValueError:
        errors[CONF_NAS_URL] = "invalid_url"
    nas_ip = user_input.get(CONF_NAS_IP, "").strip()
    if nas_ip:
        try:
            data[CONF_NAS_IP] = normalize_ip(nas_ip)
        except ValueError:
            errors[CONF_NAS_IP] = "invalid_ip"
    elif CONF_NAS_URL in data:
        # The NAS IP is needed for the DNS record and the inbox transfer; a URL with
        # an IP address already says it.
        if (url_ip := ip_of_url(data[CONF_NAS_URL])) is not None:
            data[CONF_NAS_IP] = url_ip
        else:
            errors[CONF_NAS_IP] = "nas_ip_required"
    if with_mac:
        try:
            data[CONF_NAS_MAC] = normalize_mac(user_input[CONF_NAS_MAC])
        except ValueError:
            errors[CONF_NAS_MAC] = "invalid_mac"
    try:
        data[CONF_PI_IP] = normalize_ip(user_input[CONF_PI_IP])
    except ValueError:
        errors[CONF_PI_IP] = "invalid_ip"
    if secret := user_input.get(CONF_HANDSHAKE_SECRET, "").strip():
        try:
            data[CONF_HANDSHAKE_SECRET] = check_secret(secret)
        except ValueError:
            errors[CONF_HANDSHAKE_SECRET] = "secret_too_short"
    return data, errors


class BaluPiConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set BaluPi up for one BaluHost NAS."""

    VERSION = 1
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing validated."""
        self._data: dict[str, Any] = {}
        self._probe_error = ""
        self._nas_version = ""
        self._found: list[FoundPlug] = []
        self._chosen: list[FoundPlug] = []
        self._nas_plug = ""
        self._ssh_key: tuple[str, str] | None = None
        """BaluPi's SSH key pair for the inbox: private, public line."""
        self._discovered: dict[str, str] = {}
        """What the NAS announced over mDNS: its URL, IP and host name."""

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Plugs are added and removed one by one, as subentries."""
        return {SUBENTRY_PLUG: PlugSubentryFlow}

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: BaluPiConfigEntry) -> BaluPiOptionsFlow:
        """Return the options flow."""
        return BaluPiOptionsFlow()

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """A BaluHost NAS announced itself (``_baluhost._tcp``): offer to set it up.

        A NAS is known by its MAC (the entry's unique ID). BaluHost does not announce
        it, so it is read from the Pi's neighbour table for the announced address.
        The NAS of an entry is followed to a new address and host name; a NAS whose
        MAC cannot be read leaves every entry alone, and is not offered again while
        an entry has its host name or address; a NAS with another MAC is offered
        (its MAC filled in), even at a set-up NAS's host name.
        """
        host = discovery_info.host
        hostname = str(discovery_info.properties.get("hostname") or "").strip()
        hostname = hostname or discovery_info.hostname.removesuffix(".local.")
        try:
            url = normalize_base_url(str(discovery_info.properties.get("api") or ""))
        except ValueError:
            url = f"http://{_url_host(host)}:{discovery_info.port}"
        self._discovered = {CONF_NAS_URL: url, CONF_NAS_IP: host}
        self._discovered[CONF_NAS_HOSTNAME] = hostname
        mac = await async_mac_of(host, discovery_info.port or 80)
        if mac is not None:
            await self.async_set_unique_id(mac)
            for entry in self._async_current_entries(include_ignore=False):
                if entry.unique_id == mac:
                    return self._async_follow_nas(entry, url, host, hostname)
            self._abort_if_unique_id_configured()  # ignored by the user
            self._discovered[CONF_NAS_MAC] = mac
        else:
            for entry in self._async_current_entries(include_ignore=False):
                known = (entry.data.get(CONF_NAS_HOSTNAME), entry.data.get(CONF_NAS_IP))
                if hostname in known or host in known:
                    return self.async_abort(reason="already_configured")
            # Until the user gives the MAC, the announced host name tells flows
            # apart; it also lets the user ignore this NAS's offer.
            await self.async_set_unique_id(f"mdns_{hostname}")
            self._abort_if_unique_id_configured()
        self.context["title_placeholders"] = {"name": hostname}
        return await self.async_step_user()

    async def async_step_dhcp(
        self, discovery_info: DhcpServiceInfo
    ) -> ConfigFlowResult:
        """A TP-Link device got an address from DHCP: follow it if it is our plug.

        Home Assistant reports the plugs BaluPi has devices for, and plugs by TP-Link's
        MAC prefixes and host names (as for its own ``tplink``). The plug subentry with
        the device's MAC gets the new address; its coordinator reads it there.
        """
        mac = dr.format_mac(discovery_info.macaddress)
        for entry in self._async_current_entries(include_ignore=False):
            for subentry in plug_subentries(entry):
                if subentry.data[CONF_MAC] != mac:
                    continue
                if subentry.data[CONF_HOST] != discovery_info.ip:
                    self.hass.config_entries.async_update_subentry(
                        entry,
                        subentry,
                        data={**subentry.data, CONF_HOST: discovery_info.ip},
                    )
                return self.async_abort(reason="plug_known")
        # Not one of BaluPi's plugs (a NAS's or a new plug's address is not followed
        # here): plugs are added from the entry, with the Tapo account.
        return self.async_abort(reason="not_balupi_plug")

    def _async_follow_nas(
        self, entry: BaluPiConfigEntry, url: str, host: str, hostname: str
    ) -> ConfigFlowResult:
        """Keep a set-up NAS's address and host name as it announces them."""
        updates = {CONF_NAS_HOSTNAME: hostname}
        if host != entry.data.get(CONF_NAS_IP):
            updates |= {CONF_NAS_IP: host, CONF_NAS_URL: url}
        if any(entry.data.get(key) != value for key, value in updates.items()):
            return self._async_save_and_abort(entry, updates, "already_configured")
        return self.async_abort(reason="already_configured")

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the NAS and the Pi are; generate the secret if none is given."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = _validate_connection(user_input, with_mac=True)
            if self._discovered.get(CONF_NAS_HOSTNAME):
                data[CONF_NAS_HOSTNAME] = self._discovered[CONF_NAS_HOSTNAME]
            if not errors:
                await self.async_set_unique_id(data[CONF_NAS_MAC])
                self._abort_if_unique_id_configured()
                errors = self._check_secret_unused(data)
            if not errors:
                data.setdefault(CONF_HANDSHAKE_SECRET, generate_secret())
                data[CONF_WEBHOOK_GOING_OFFLINE] = webhook.async_generate_id()
                data[CONF_WEBHOOK_COMING_ONLINE] = webhook.async_generate_id()
                self._data = data
                return await self._async_probe()
        suggested = (
            _without_secret(user_input)
            if user_input
            else {**self._pi_ip_guess(), **self._discovered}
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, suggested),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the addresses or the secret; an empty secret keeps the current one."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = _validate_connection(user_input, with_mac=False)
            if not errors:
                data.setdefault(
                    CONF_HANDSHAKE_SECRET, entry.data[CONF_HANDSHAKE_SECRET]
                )
                errors = self._check_secret_unused(data)
            if not errors:
                self._data = data
                return await self._async_probe()
        suggested = _without_secret(user_input or dict(entry.data))
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, suggested
            ),
            errors=errors,
            description_placeholders={"nas_mac": entry.data[CONF_NAS_MAC]},
        )

    def _check_secret_unused(self, data: dict[str, str]) -> dict[str, str]:
        """An error when another BaluPi entry has the secret in ``data``.

        Each NAS needs its own secret: a push is acted on by the first entry whose
        secret signed it, so a second NAS with the same secret would move the first.
        """
        secret = data.get(CONF_HANDSHAKE_SECRET)
        this = (
            self._get_reconfigure_entry().entry_id
            if self.source == SOURCE_RECONFIGURE
            else None
        )
        for entry in self._async_current_entries(include_ignore=False):
            if (
                entry.entry_id != this
                and entry.data.get(CONF_HANDSHAKE_SECRET) == secret
            ):
                return {CONF_HANDSHAKE_SECRET: "secret_in_use"}
        return {}

    async def async_step_probe_again(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the NAS once more (menu choice after it did not answer)."""
        return await self._async_probe()

    async def async_step_nas_reachable(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show that the NAS answered, and what to enter on the NAS."""
        if user_input is not None:
            return await self.async_step_finish()
        return self.async_show_form(
            step_id="nas_reachable",
            description_placeholders={
                **self._nas_placeholders(),
                "version": self._nas_version,
            },
        )

    async def async_step_nas_unreachable(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show that the NAS did not answer; offer to try again or save anyway."""
        return self.async_show_menu(
            step_id="nas_unreachable",
            menu_options=["probe_again", "finish"],
            description_placeholders={
                **self._nas_placeholders(),
                "error": self._probe_error,
            },
        )

    async def async_step_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Go on to the plugs (new entry), or update the entry and reload."""
        if self.source == SOURCE_RECONFIGURE:
            return await self.async_step_pihole()
        return await self.async_step_tapo()

    async def async_step_tapo(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the Tapo account; find the plugs it opens (or skip plugs)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            username = user_input.get(CONF_TAPO_USERNAME, "").strip()
            if not username:
                return await self.async_step_pihole()
            password = user_input.get(CONF_TAPO_PASSWORD, "")
            self._found, errors = await find_plugs(
                self.hass,
                Credentials(username, password),
                user_input.get(CONF_PLUG_HOST, ""),
            )
            if self._found:
                self._data[CONF_TAPO_USERNAME] = username
                self._data[CONF_TAPO_PASSWORD] = password
                return await self.async_step_plugs()
        return self.async_show_form(
            step_id="tapo",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema({**ACCOUNT_FIELDS, **HOST_FIELD}),
                _without_password(user_input or {}),
            ),
            errors=errors,
        )

    async def async_step_plugs(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the plugs to watch and the one that powers the NAS."""
        if user_input is not None:
            chosen = [p for p in self._found if p.reading.mac in user_input[CONF_PLUGS]]
            nas_plug = user_input.get(CONF_NAS_PLUG, "")
            if nas_plug not in {p.reading.mac for p in chosen}:
                nas_plug = ""
            self._chosen, self._nas_plug = chosen, nas_plug
            return await self.async_step_pihole()
        options = plug_options(self._found)
        return self.async_show_form(
            step_id="plugs",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_PLUGS, default=[option["value"] for option in options]
                    ): SelectSelector(
                        SelectSelectorConfig(options=options, multiple=True)
                    ),
                    vol.Optional(CONF_NAS_PLUG): SelectSelector(
                        SelectSelectorConfig(options=options)
                    ),
                }
            ),
            description_placeholders={"count": str(len(self._found))},
        )

    async def async_step_pihole(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the Pi-hole that holds baluhost.local (or skip the DNS switch)."""
        stored = self._stored()
        errors: dict[str, str] = {}
        if user_input is not None:
            password = user_input.get(CONF_PIHOLE_PASSWORD) or stored.get(
                CONF_PIHOLE_PASSWORD, ""
            )
            data, errors = await check_pihole(
                async_get_clientsession(self.hass), user_input, password
            )
            if not errors:
                self._data.update(data)
                return await self.async_step_inbox()
        suggested = {
            k: v for k, v in (user_input or stored).items() if k != CONF_PIHOLE_PASSWORD
        }
        return self.async_show_form(
            step_id="pihole",
            data_schema=self.add_suggested_values_to_schema(PIHOLE_SCHEMA, suggested),
            errors=errors,
            description_placeholders={
                "nas_ip": self._data[CONF_NAS_IP],
                "pi_ip": self._data[CONF_PI_IP],
            },
        )

    async def async_step_inbox(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the inbox folder and the NAS's SSH; check BaluPi's key there."""
        stored = self._stored()
        if self._ssh_key is None:
            if stored.get(CONF_SSH_PRIVATE_KEY):
                self._ssh_key = (
                    stored[CONF_SSH_PRIVATE_KEY],
                    stored[CONF_SSH_PUBLIC_KEY],
                )
            else:
                self._ssh_key = await self.hass.async_add_executor_job(
                    generate_key_pair, "balupi@homeassistant"
                )
        errors: dict[str, str] = {}
        if user_input is not None:
            folder = user_input.get(CONF_INBOX_FOLDER, "").strip()
            if not folder:
                self._data.update(NO_INBOX)
                return self._done()
            try:
                folder = await self.hass.async_add_executor_job(
                    check_inbox_folder, folder
                )
            except (ValueError, OSError):
                errors[CONF_INBOX_FOLDER] = "invalid_folder"
            else:
                data, errors = await check_inbox(
                    user_input,
                    nas_ip=self._data[CONF_NAS_IP],
                    private_key=self._ssh_key[0],
                    folder=folder,
                )
                if not errors:
                    self._data.update(data, **{CONF_SSH_PUBLIC_KEY: self._ssh_key[1]})
                    return self._done()
        return self.async_show_form(
            step_id="inbox",
            data_schema=self.add_suggested_values_to_schema(
                INBOX_SCHEMA, user_input or stored
            ),
            errors=errors,
            description_placeholders={
                "public_key": self._ssh_key[1],
                "nas_ip": self._data[CONF_NAS_IP],
            },
        )

    def _stored(self) -> dict[str, Any]:
        """The entry's data while reconfiguring; nothing for a new entry."""
        if self.source == SOURCE_RECONFIGURE:
            return dict(self._get_reconfigure_entry().data)
        return {}

    def _done(self) -> ConfigFlowResult:
        """Save: update and reload the entry, or create it with its plugs."""
        if self.source == SOURCE_RECONFIGURE:
            return self._async_save_and_abort(
                self._get_reconfigure_entry(), self._data, "reconfigure_successful"
            )
        return self.async_create_entry(
            title=f"BaluHost {self._data[CONF_NAS_IP]}",
            data=self._data,
            options={**DEFAULT_OPTIONS, CONF_NAS_PLUG: self._nas_plug},
            subentries=[plug.subentry() for plug in self._chosen],
        )

    @callback
    def _async_save_and_abort(
        self, entry: ConfigEntry, data_updates: Mapping[str, Any], reason: str
    ) -> ConfigFlowResult:
        """Store ``data_updates`` in ``entry`` and finish: the entry reloads once.

        A loaded entry reloads through its update listener, which sees the change
        (Home Assistant logs a flow that reloads an entry with a listener itself as
        deprecated, and it would reload twice). The flow reloads the entry only where
        no listener will: the entry is not loaded (a failed setup registered none), or
        nothing changed (a reauth with the same account, which works again: the plugs
        are not polled again until a reload).
        """
        # Before the update: the listener starts the reload at once.
        listening = entry.state is ConfigEntryState.LOADED
        changed = self.hass.config_entries.async_update_entry(
            entry, data={**entry.data, **data_updates}
        )
        if not (changed and listening):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason=reason)

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The plugs rejected the Tapo account, or the Pi-hole its password: ask again.

        The Pi-hole says so in the flow's data; without it, the Tapo account (the
        plugs) failed, unless the entry has no account.
        """
        if entry_data.get(REAUTH_OF) == REAUTH_PIHOLE or not entry_data.get(
            CONF_TAPO_USERNAME
        ):
            return await self.async_step_reauth_pihole()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_pihole(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check the new Pi-hole password against the Pi-hole, then store it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data, found = await check_pihole(
                async_get_clientsession(self.hass),
                dict(entry.data),
                user_input[CONF_PIHOLE_PASSWORD],
            )
            # Only the password is on this form: the other errors go above it.
            errors = {
                field if field == CONF_PIHOLE_PASSWORD else "base": key
                for field, key in found.items()
            }
            if not errors:
                return self._async_save_and_abort(entry, data, "reauth_successful")
        return self.async_show_form(
            step_id="reauth_pihole",
            data_schema=REAUTH_PIHOLE_SCHEMA,
            errors=errors,
            description_placeholders={"url": entry.data.get(CONF_PIHOLE_URL, "")},
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check the new account against a plug of the entry, then store it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            username = user_input[CONF_TAPO_USERNAME].strip()
            password = user_input[CONF_TAPO_PASSWORD]
            errors = await _check_account(
                self.hass, entry, Credentials(username, password)
            )
            if not errors:
                return self._async_save_and_abort(
                    entry,
                    {CONF_TAPO_USERNAME: username, CONF_TAPO_PASSWORD: password},
                    "reauth_successful",
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                REAUTH_SCHEMA,
                {CONF_TAPO_USERNAME: entry.data.get(CONF_TAPO_USERNAME, "")},
            ),
            errors=errors,
        )

    async def _async_probe(self) -> ConfigFlowResult:
        session = async_get_clientsession(self.hass)
        try:
            health = await fetch_health(
                session, self._data[CONF_NAS_URL], timeout=HEALTH_TIMEOUT
            )
        except NasError as err:
            self._probe_error = str(err)
            return await self.async_step_nas_unreachable()
        self._nas_version = health.version or "?"
        return await self.async_step_nas_reachable()

    def _nas_placeholders(self) -> dict[str, str]:
        """What the user must enter in the NAS's BaluPi settings, and where it is."""
        api = self.hass.config.api
        scheme = "https" if api is not None and api.use_ssl else "http"
        port = api.port if api is not None else DEFAULT_HA_PORT
        webhooks = {**self._stored(), **self._data}
        return {
            "nas_url": self._data[CONF_NAS_URL],
            "balupi_url": f"{scheme}://{_url_host(self._data[CONF_PI_IP])}:{port}",
            "secret": self._data[CONF_HANDSHAKE_SECRET],
            "webhook_going_offline": webhooks[CONF_WEBHOOK_GOING_OFFLINE],
            "webhook_coming_online": webhooks[CONF_WEBHOOK_COMING_ONLINE],
        }

    def _pi_ip_guess(self) -> dict[str, Any]:
        """Suggest the address Home Assistant itself is reached at as the Pi's IP."""
        api = self.hass.config.api
        if api is not None and api.local_ip and api.local_ip != "127.0.0.1":
            return {CONF_PI_IP: api.local_ip}
        return {}


class BaluPiOptionsFlow(OptionsFlow):
    """Change intervals, power thresholds and the electricity price."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and check the options."""
        errors: dict[str, str] = {}
        plugs = [
            SelectOptionDict(value=subentry.data[CONF_MAC], label=subentry.title)
            for subentry in plug_subentries(self.config_entry)
        ]
        if user_input is not None:
            # The number fields come back as floats; Options types every value.
            options = Options.from_options(
                {**user_input, CONF_NAS_PLUG: user_input.get(CONF_NAS_PLUG, "")}
            )
            problems = options.problems()
            if not problems:
                return self.async_create_entry(data=asdict(options))
            errors["base"] = problems[0]
        schema = OPTIONS_SCHEMA
        if plugs:
            schema = schema.extend(
                {
                    vol.Optional(CONF_NAS_PLUG): SelectSelector(
                        SelectSelectorConfig(options=plugs)
                    )
                }
            )
        current = user_input or {**DEFAULT_OPTIONS, **self.config_entry.options}
        if not current.get(CONF_NAS_PLUG):
            current = {k: v for k, v in current.items() if k != CONF_NAS_PLUG}
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, current),
            errors=errors,
        )


async def _check_account(
    hass: HomeAssistant, entry: BaluPiConfigEntry, credentials: Credentials
) -> dict[str, str]:
    """Read the entry's plugs with ``credentials`` until one answers; return errors."""
    sessions = PlugSessions(hass)
    client = PlugClient(credentials, session_factory=sessions)
    errors = {"base": "cannot_connect"}
    try:
        for subentry in plug_subentries(entry):
            try:
                await client.read(subentry_address(subentry.data))
            except PlugAuthError:
                return {"base": "invalid_auth"}
            except PlugError:
                continue
            return {}
    finally:
        await client.close()
        sessions.detach()
    return errors


def _without_password(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != CONF_TAPO_PASSWORD}


def _without_secret(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != CONF_HANDSHAKE_SECRET}


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip
