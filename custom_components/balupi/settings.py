"""Typed views of a BaluPi config entry's data and options.

Plain Python: the config entry stores mappings, everything else reads these. What
was stored is checked when an entry is set up (``check``): a setting that cannot
work is named then, not found out at the first heartbeat, push or flush.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any

import asyncssh

from .const import (
    CONF_ACTIVE_ABOVE,
    CONF_BOOT_TIMEOUT,
    CONF_DNS_HOSTNAME,
    CONF_ENERGY_PRICE,
    CONF_FAST_HEARTBEAT_INTERVAL,
    CONF_HANDSHAKE_SECRET,
    CONF_HEARTBEAT_FAILURES,
    CONF_HEARTBEAT_INTERVAL,
    CONF_INBOX_FOLDER,
    CONF_INBOX_SETTLE_TIME,
    CONF_NAS_INBOX_PATH,
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
    CONF_SSH_HOST_KEY,
    CONF_SSH_PORT,
    CONF_SSH_PRIVATE_KEY,
    CONF_SSH_USER,
    CONF_STANDBY_MAX,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    CONF_WEBHOOK_COMING_ONLINE,
    CONF_WEBHOOK_GOING_OFFLINE,
    CONF_WOL_BROADCAST,
    CONF_WOL_PORT,
    DEFAULT_DNS_HOSTNAME,
    DEFAULT_OPTIONS,
    DEFAULT_SSH_PORT,
)
from .inbox_base import (
    validate_folder,
    validate_host_key,
    validate_port,
    validate_remote_path,
    validate_username,
)
from .pihole import validate_hostname
from .validation import check_secret, normalize_base_url, normalize_ip, normalize_mac


class StoredSettingError(ValueError):
    """A stored setting that cannot work: which one, and why."""

    def __init__(self, setting: str, reason: str) -> None:
        """Name the ``setting`` (its key in the entry) and the ``reason``."""
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


def _check[T](setting: str, check: Callable[[T], object], value: T) -> None:
    try:
        check(value)
    except ValueError as err:
        raise StoredSettingError(setting, str(err)) from err


@dataclass(frozen=True, slots=True)
class PiholeSettings:
    """The Pi-hole v6 that holds the NAS's local DNS record."""

    url: str
    password: str
    hostname: str
    """The name switched between the NAS and the Pi, baluhost.local by default."""

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PiholeSettings | None:
        """Read the entry's data; None when no Pi-hole is configured."""
        if not data.get(CONF_PIHOLE_URL):
            return None
        return cls(
            url=data[CONF_PIHOLE_URL],
            password=data.get(CONF_PIHOLE_PASSWORD, ""),
            hostname=data.get(CONF_DNS_HOSTNAME) or DEFAULT_DNS_HOSTNAME,
        )

    def check(self) -> None:
        """Raise StoredSettingError unless the URL and the host name can work."""
        _check(CONF_PIHOLE_URL, normalize_base_url, self.url)
        _check(CONF_DNS_HOSTNAME, validate_hostname, self.hostname)


@dataclass(frozen=True, slots=True)
class InboxSettings:
    """The Pi's inbox folder and where its files go on the NAS, over SSH."""

    folder: str
    nas_path: str
    ssh_user: str
    ssh_port: int
    private_key: str
    host_key: str
    """The NAS's SSH host key, pinned when the inbox was set up."""

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> InboxSettings | None:
        """Read the entry's data; None when no inbox is configured."""
        if not data.get(CONF_INBOX_FOLDER):
            return None
        return cls(
            folder=data[CONF_INBOX_FOLDER],
            nas_path=data[CONF_NAS_INBOX_PATH],
            ssh_user=data[CONF_SSH_USER],
            ssh_port=int(data.get(CONF_SSH_PORT, DEFAULT_SSH_PORT)),
            private_key=data[CONF_SSH_PRIVATE_KEY],
            host_key=data[CONF_SSH_HOST_KEY],
        )

    def check(self) -> None:
        """Raise StoredSettingError unless the SSH settings and keys can work."""
        _check(CONF_INBOX_FOLDER, validate_folder, Path(self.folder))
        _check(CONF_NAS_INBOX_PATH, validate_remote_path, self.nas_path)
        _check(CONF_SSH_USER, validate_username, self.ssh_user)
        _check(CONF_SSH_PORT, validate_port, self.ssh_port)
        _check(CONF_SSH_HOST_KEY, validate_host_key, self.host_key)
        try:
            asyncssh.import_private_key(self.private_key)
        except (asyncssh.KeyImportError, ValueError) as err:
            # The reason, never the key.
            raise StoredSettingError(
                CONF_SSH_PRIVATE_KEY, "not an SSH private key"
            ) from err

    def check_folder(self) -> None:
        """Raise StoredSettingError unless the folder is one BaluPi may use (blocking).

        A missing folder is created, as the flow does; a file, or a folder Home
        Assistant may not read, write and enter, cannot work.
        """
        path = Path(self.folder)
        if path.exists() and not path.is_dir():
            raise StoredSettingError(CONF_INBOX_FOLDER, f"{path} is not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoredSettingError(
                CONF_INBOX_FOLDER, f"cannot create {path}: {err.strerror}"
            ) from err
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
            raise StoredSettingError(
                CONF_INBOX_FOLDER, f"{path} cannot be read and written"
            )


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where the NAS and the Pi are, and the secret they share (ConfigEntry.data)."""

    nas_url: str
    nas_ip: str
    nas_mac: str
    pi_ip: str
    handshake_secret: str
    webhook_going_offline: str
    webhook_coming_online: str
    """IDs of the Home Assistant webhooks the two pushes may also arrive at."""
    tapo_username: str | None = None
    tapo_password: str | None = None
    """The TP-Link cloud account the plugs authenticate against (None: no plugs)."""
    pihole: PiholeSettings | None = None
    inbox: InboxSettings | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ConnectionSettings:
        """Read the entry's data; StoredSettingError when a setting is missing."""
        try:
            return cls._from_data(data)
        except KeyError as err:
            raise StoredSettingError(str(err.args[0]), "missing") from err

    @classmethod
    def _from_data(cls, data: Mapping[str, Any]) -> ConnectionSettings:
        return cls(
            nas_url=data[CONF_NAS_URL],
            nas_ip=data[CONF_NAS_IP],
            nas_mac=data[CONF_NAS_MAC],
            pi_ip=data[CONF_PI_IP],
            handshake_secret=data[CONF_HANDSHAKE_SECRET],
            webhook_going_offline=data[CONF_WEBHOOK_GOING_OFFLINE],
            webhook_coming_online=data[CONF_WEBHOOK_COMING_ONLINE],
            tapo_username=data.get(CONF_TAPO_USERNAME),
            tapo_password=data.get(CONF_TAPO_PASSWORD),
            pihole=PiholeSettings.from_data(data),
            inbox=InboxSettings.from_data(data),
        )

    def check(self) -> None:
        """Raise StoredSettingError for the first stored setting that cannot work.

        Not blocking; the inbox folder is ``InboxSettings.check_folder``.
        """
        _check(CONF_NAS_URL, normalize_base_url, self.nas_url)
        _check(CONF_NAS_IP, normalize_ip, self.nas_ip)
        _check(CONF_NAS_MAC, normalize_mac, self.nas_mac)
        _check(CONF_PI_IP, normalize_ip, self.pi_ip)
        _check(CONF_HANDSHAKE_SECRET, check_secret, self.handshake_secret)
        if self.pihole is not None:
            self.pihole.check()
        if self.inbox is not None:
            self.inbox.check()


@dataclass(frozen=True, slots=True)
class Options:
    """How often and with which limits BaluPi works (ConfigEntry.options)."""

    plug_poll_interval: int
    heartbeat_interval: int
    fast_heartbeat_interval: int
    heartbeat_failures: int
    boot_timeout: int
    power_off_below: float
    standby_max: float
    active_above: float
    energy_price: float
    """Price of one kWh in cents of the configured currency."""
    spare_sleeping_nas: bool
    """No health checks while the NAS plug says the NAS sleeps or is off."""
    wol_broadcast: str
    wol_port: int
    nas_plug: str
    """MAC of the plug that powers the NAS, or "" when none does."""
    inbox_settle_time: int
    """Seconds an inbox file must stay unchanged (and closed) before it is sent."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Options:
        """Read the entry's options; a key an older version did not store gets its default."""
        merged = {**DEFAULT_OPTIONS, **options}
        return cls(
            plug_poll_interval=int(merged[CONF_PLUG_POLL_INTERVAL]),
            heartbeat_interval=int(merged[CONF_HEARTBEAT_INTERVAL]),
            fast_heartbeat_interval=int(merged[CONF_FAST_HEARTBEAT_INTERVAL]),
            heartbeat_failures=int(merged[CONF_HEARTBEAT_FAILURES]),
            boot_timeout=int(merged[CONF_BOOT_TIMEOUT]),
            power_off_below=float(merged[CONF_POWER_OFF_BELOW]),
            standby_max=float(merged[CONF_STANDBY_MAX]),
            active_above=float(merged[CONF_ACTIVE_ABOVE]),
            energy_price=float(merged[CONF_ENERGY_PRICE]),
            spare_sleeping_nas=bool(merged[CONF_SPARE_SLEEPING_NAS]),
            wol_broadcast=str(merged[CONF_WOL_BROADCAST]).strip(),
            wol_port=int(merged[CONF_WOL_PORT]),
            nas_plug=str(merged[CONF_NAS_PLUG]),
            inbox_settle_time=int(merged[CONF_INBOX_SETTLE_TIME]),
        )

    def problems(self) -> list[str]:
        """Return translation keys of the rules these options break (empty if none).

        The NAS power bands must not overlap: off < standby maximum <= active, the
        heartbeat after a wake-up must be faster than the normal one, and magic
        packets go to an IPv4 (broadcast) address.
        """
        found = []
        if not self.power_off_below < self.standby_max <= self.active_above:
            found.append("thresholds_order")
        if self.fast_heartbeat_interval >= self.heartbeat_interval:
            found.append("fast_not_faster")
        try:
            if ":" in normalize_ip(self.wol_broadcast):
                found.append("invalid_broadcast")
        except ValueError:
            found.append("invalid_broadcast")
        return found
