"""Constants for the BaluPi integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "balupi"
LOGGER = logging.getLogger(__package__)

# Connection data (ConfigEntry.data): what identifies the NAS and the Pi.
CONF_NAS_URL: Final = "nas_url"
CONF_NAS_IP: Final = "nas_ip"
CONF_NAS_MAC: Final = "nas_mac"
CONF_PI_IP: Final = "pi_ip"
CONF_NAS_HOSTNAME: Final = "nas_hostname"
"""The host name the NAS announces over mDNS (``_baluhost._tcp``), once seen."""
CONF_HANDSHAKE_SECRET: Final = "handshake_secret"  # noqa: S105 (a key, not a secret)
CONF_TAPO_USERNAME: Final = "tapo_username"
CONF_TAPO_PASSWORD: Final = "tapo_password"  # noqa: S105 (a key, not a secret)
# The two pushes also arrive as Home Assistant webhooks, each under its own ID.
CONF_WEBHOOK_GOING_OFFLINE: Final = "webhook_going_offline"
CONF_WEBHOOK_COMING_ONLINE: Final = "webhook_coming_online"
# Pi-hole v6 that holds the baluhost.local record (optional: no URL, no DNS switch).
CONF_PIHOLE_URL: Final = "pihole_url"
CONF_PIHOLE_PASSWORD: Final = "pihole_password"  # noqa: S105 (a key, not a secret)
CONF_DNS_HOSTNAME: Final = "dns_hostname"
# The Pi's inbox and where it goes on the NAS (optional: no folder, no flush).
CONF_INBOX_FOLDER: Final = "inbox_folder"
CONF_NAS_INBOX_PATH: Final = "nas_inbox_path"
CONF_SSH_USER: Final = "ssh_user"
CONF_SSH_PORT: Final = "ssh_port"
CONF_SSH_PRIVATE_KEY: Final = "ssh_private_key"
CONF_SSH_PUBLIC_KEY: Final = "ssh_public_key"
"""BaluPi's own key: the line the user adds to authorized_keys on the NAS."""
CONF_SSH_HOST_KEY: Final = "ssh_host_key"
"""The NAS's SSH host key as pinned when the inbox was set up."""

# One config subentry per Tapo plug; its data says where the plug is.
SUBENTRY_PLUG: Final = "plug"
REAUTH_OF: Final = "reauth_of"
"""Key in a reauth flow's data naming what was rejected (the Tapo account if absent)."""
REAUTH_PIHOLE: Final = "pihole"
CONF_HOST: Final = "host"
CONF_CONNECTION: Final = "connection"
CONF_MAC: Final = "mac"
CONF_MODEL: Final = "model"
CONF_PORT: Final = "port"
"""The plug's HTTP port, stored only when the user gave one (port forwarding)."""
CONF_MEASURES: Final = "measures"
"""What the plug really measures (``plugs.MEASURES``), once read; absent: not yet."""

# Settings (ConfigEntry.options): how often and with which limits BaluPi works.
CONF_PLUG_POLL_INTERVAL: Final = "plug_poll_interval"
CONF_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"
CONF_FAST_HEARTBEAT_INTERVAL: Final = "fast_heartbeat_interval"
CONF_HEARTBEAT_FAILURES: Final = "heartbeat_failures"
CONF_BOOT_TIMEOUT: Final = "boot_timeout"
CONF_POWER_OFF_BELOW: Final = "power_off_below"
CONF_STANDBY_MAX: Final = "standby_max"
CONF_ACTIVE_ABOVE: Final = "active_above"
CONF_ENERGY_PRICE: Final = "energy_price"
CONF_SPARE_SLEEPING_NAS: Final = "spare_sleeping_nas"
CONF_WOL_BROADCAST: Final = "wol_broadcast"
CONF_WOL_PORT: Final = "wol_port"
CONF_NAS_PLUG: Final = "nas_plug"
"""MAC of the plug that powers the NAS; empty when none does."""
CONF_INBOX_SETTLE_TIME: Final = "inbox_settle_time"
"""Seconds an inbox file must stay unchanged before it is sent."""

# Defaults, from the product brief: plugs and heartbeat every 30 s, 5 s after a wake-up,
# three failed heartbeats in a row mean offline; < 2 W off, 2-15 W standby, > 30 W active;
# electricity at 30 ct/kWh.
DEFAULT_OPTIONS: Final[dict[str, float | int | str | bool]] = {
    CONF_PLUG_POLL_INTERVAL: 30,
    CONF_HEARTBEAT_INTERVAL: 30,
    CONF_FAST_HEARTBEAT_INTERVAL: 5,
    CONF_HEARTBEAT_FAILURES: 3,
    CONF_BOOT_TIMEOUT: 300,
    CONF_POWER_OFF_BELOW: 2.0,
    CONF_STANDBY_MAX: 15.0,
    CONF_ACTIVE_ABOVE: 30.0,
    CONF_ENERGY_PRICE: 30.0,
    CONF_SPARE_SLEEPING_NAS: True,
    CONF_WOL_BROADCAST: "255.255.255.255",
    CONF_WOL_PORT: 9,
    CONF_NAS_PLUG: "",
    # A Samba copy over slow Wi-Fi or a camera's upload pauses for seconds between
    # writes; a minute without change means the writer is done.
    CONF_INBOX_SETTLE_TIME: 60,
}

# The NAS answers GET /api/health within milliseconds when it is up; 5 s is what the
# BaluHost heartbeat used and what a Pi on Wi-Fi needs at worst.
HEALTH_TIMEOUT: Final = 5.0

# BaluHost signs with a shared secret of at least 32 characters; it generates 48
# URL-safe characters itself (secrets.token_urlsafe(36)), so we do the same.
SECRET_MIN_LENGTH: Final = 32
SECRET_GENERATED_BYTES: Final = 36

DEFAULT_HA_PORT: Final = 8123

DEFAULT_DNS_HOSTNAME: Final = "baluhost.local"
DEFAULT_SSH_USER: Final = "baluhost"
DEFAULT_SSH_PORT: Final = 22
DEFAULT_NAS_INBOX_PATH: Final = "/data/inbox"

# Where plug discovery asks: every device on the local network. The environment
# variable replaces it (scripts/develop: 127.0.0.1, so the demo stays on the machine).
DISCOVERY_TARGET: Final = "255.255.255.255"
ENV_DISCOVERY_TARGET: Final = "BALUPI_DISCOVERY_TARGET"

# A plug that stops answering may have been given another address: after this long
# without an answer BaluPi asks the network where its MAC is, then at most this often
# while it stays away (Home Assistant's dhcp discovery usually tells sooner).
SEARCH_AFTER: Final = 120.0
SEARCH_EVERY: Final = 900.0
SEARCH_TIMEOUT: Final = 5.0
"""Seconds one search listens for answers."""
