"""Config-flow steps for the DNS switch (Pi-hole) and the inbox (SSH to the NAS).

Both are optional: an empty Pi-hole URL means BaluPi does not touch DNS, an empty
inbox folder means it flushes nothing. Both are checked against the real peer
before they are saved: the Pi-hole must accept the password *and* allow it to
change local DNS records; the NAS's SSH must accept BaluPi's key and have the
inbox directory. The NAS's SSH host key is pinned at that moment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_DNS_HOSTNAME,
    CONF_INBOX_FOLDER,
    CONF_NAS_INBOX_PATH,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_SSH_HOST_KEY,
    CONF_SSH_PORT,
    CONF_SSH_PRIVATE_KEY,
    CONF_SSH_USER,
    DEFAULT_DNS_HOSTNAME,
    DEFAULT_NAS_INBOX_PATH,
    DEFAULT_SSH_PORT,
    DEFAULT_SSH_USER,
)
from .inbox import (
    InboxError,
    RemotePathError,
    SshAuthError,
    SshUnreachableError,
    probe_target,
)
from .inbox_base import validate_remote_path, validate_username
from .pihole import (
    PiholeAuthError,
    PiholeClient,
    PiholeError,
    PiholeRateLimitError,
    PiholeSeatsError,
    PiholeUnreachableError,
    validate_hostname,
)
from .schema import vol
from .validation import normalize_base_url

_TEXT = TextSelector(TextSelectorConfig(type=TextSelectorType.TEXT))

PIHOLE_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_PIHOLE_URL): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        vol.Optional(CONF_PIHOLE_PASSWORD): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
        vol.Optional(CONF_DNS_HOSTNAME, default=DEFAULT_DNS_HOSTNAME): _TEXT,
    }
)
INBOX_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_INBOX_FOLDER): _TEXT,
        vol.Optional(CONF_NAS_INBOX_PATH, default=DEFAULT_NAS_INBOX_PATH): _TEXT,
        vol.Optional(CONF_SSH_USER, default=DEFAULT_SSH_USER): _TEXT,
        vol.Optional(CONF_SSH_PORT, default=DEFAULT_SSH_PORT): NumberSelector(
            NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
        ),
    }
)
_PIHOLE_ERRORS: dict[type[PiholeError], tuple[str, str]] = {
    PiholeAuthError: (CONF_PIHOLE_PASSWORD, "pihole_auth"),
    PiholeSeatsError: ("base", "pihole_seats"),
    PiholeRateLimitError: ("base", "pihole_rate_limit"),
    PiholeUnreachableError: (CONF_PIHOLE_URL, "pihole_unreachable"),
}
_SSH_ERRORS: dict[type[InboxError], tuple[str, str]] = {
    SshUnreachableError: ("base", "ssh_unreachable"),
    SshAuthError: ("base", "ssh_auth"),
    RemotePathError: (CONF_NAS_INBOX_PATH, "nas_inbox_path"),
}
NO_PIHOLE: dict[str, str] = {CONF_PIHOLE_URL: "", CONF_PIHOLE_PASSWORD: ""}
NO_INBOX: dict[str, str] = {CONF_INBOX_FOLDER: ""}


def normalize_pihole_url(value: str) -> str:
    """The Pi-hole's base URL; the admin page's ``/admin`` path is forgiven."""
    text = value.strip().rstrip("/")
    text = text.removesuffix("/admin")
    return normalize_base_url(text)


async def check_pihole(
    session: aiohttp.ClientSession, user_input: dict[str, Any], password: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Validate the Pi-hole step; return the data to store and field errors.

    ``password`` is the one to use (the entered one, or the stored one when the
    field was left empty while reconfiguring).
    """
    url_text = str(user_input.get(CONF_PIHOLE_URL, "")).strip()
    if not url_text:
        return dict(NO_PIHOLE), {}
    errors: dict[str, str] = {}
    try:
        url = normalize_pihole_url(url_text)
    except ValueError:
        errors[CONF_PIHOLE_URL] = "invalid_url"
    try:
        hostname = validate_hostname(
            str(user_input.get(CONF_DNS_HOSTNAME) or DEFAULT_DNS_HOSTNAME)
        )
    except ValueError:
        errors[CONF_DNS_HOSTNAME] = "invalid_hostname"
    if errors:
        return {}, errors
    client = PiholeClient(session, url, password, timeout=10)
    try:
        if not await client.can_write():
            return {}, {"base": "pihole_read_only"}
    except PiholeError as err:
        field, key = _PIHOLE_ERRORS.get(type(err), (CONF_PIHOLE_URL, "pihole_not_v6"))
        return {}, {field: key}
    finally:
        await client.close()
    data = {
        CONF_PIHOLE_URL: url,
        CONF_PIHOLE_PASSWORD: password,
        CONF_DNS_HOSTNAME: hostname,
    }
    return data, {}


def check_inbox_folder(folder: str) -> str:
    """The inbox folder as an absolute path, created if missing (blocking).

    Raises ValueError for a relative path, OSError when it cannot be created (a
    file of that name included).
    """
    path = Path(folder.strip())
    if not path.is_absolute():
        raise ValueError("not an absolute path")
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


async def check_inbox(
    user_input: dict[str, Any], *, nas_ip: str, private_key: str, folder: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check BaluPi's key against the NAS's SSH; pin its host key."""
    user = str(user_input.get(CONF_SSH_USER, "")).strip()
    port = int(user_input.get(CONF_SSH_PORT, DEFAULT_SSH_PORT))
    try:
        nas_path = validate_remote_path(
            str(user_input.get(CONF_NAS_INBOX_PATH, "")).strip()
        )
    except ValueError:
        return {}, {CONF_NAS_INBOX_PATH: "invalid_nas_path"}
    try:
        validate_username(user)
        host_key = await probe_target(nas_ip, port, user, private_key, nas_path)
    except ValueError:
        return {}, {CONF_SSH_USER: "invalid_ssh_user"}
    except InboxError as err:
        # Anything else (no SFTP on the NAS, say): nothing a field fixes.
        field, key = _SSH_ERRORS.get(type(err), ("base", "ssh_failed"))
        return {}, {field: key}
    data: dict[str, Any] = {
        CONF_INBOX_FOLDER: folder,
        CONF_NAS_INBOX_PATH: nas_path,
        CONF_SSH_USER: user,
        CONF_SSH_PORT: port,
        CONF_SSH_PRIVATE_KEY: private_key,
        CONF_SSH_HOST_KEY: host_key,
    }
    return data, {}
