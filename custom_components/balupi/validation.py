"""Checks and normal forms for what a user types into BaluPi's forms.

Plain Python, no Home Assistant: the config flow, the options flow and later the
services use the same rules. Every function returns the normal form of a valid value
and raises ``ValueError`` for anything else.
"""

from __future__ import annotations

import ipaddress
import re
import secrets

from yarl import URL

from .const import SECRET_GENERATED_BYTES, SECRET_MIN_LENGTH

_MAC_HEX = re.compile(r"[0-9a-f]{12}")
_MAC_SEPARATED = re.compile(r"[0-9a-f]{2}([:-])(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}")
_MAC_DOTTED = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")


def normalize_base_url(value: str) -> str:
    """Return the NAS base URL as ``scheme://host[:port]`` without a trailing slash.

    BaluHost serves its API at the root of its port (``/api/health``), so a path,
    query, fragment or user info in the base URL is a typo, not a setting.
    """
    text = value.strip()
    try:
        url = URL(text)
        port = url.explicit_port  # some yarl versions check the port only here
    except ValueError as err:
        raise ValueError(f"not a URL: {text!r}") from err
    host = url.host
    if url.scheme not in ("http", "https") or not host:
        raise ValueError(f"not an http(s) URL with a host: {text!r}")
    if url.path not in ("", "/") or url.query_string or url.fragment or url.user:
        raise ValueError(f"a base URL has no path, query or user: {text!r}")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{url.scheme}://{host}" + (f":{port}" if port is not None else "")


def normalize_ip(value: str) -> str:
    """Return an IPv4 or IPv6 address in its canonical text form."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as err:
        raise ValueError(f"not an IP address: {text!r}") from err


def ip_of_url(url: str) -> str | None:
    """Return the host of a normalized base URL when it is an IP address."""
    try:
        return str(ipaddress.ip_address(URL(url).host or ""))
    except ValueError:
        return None


def normalize_mac(value: str) -> str:
    """Return a unicast MAC address as lowercase ``aa:bb:cc:dd:ee:ff``.

    Accepts the forms people copy from routers and ``ip link``: colons, dashes,
    Cisco dots or twelve bare hex digits. A Wake-on-LAN target is one network card,
    so multicast/broadcast and all-zero addresses are refused.
    """
    text = value.strip().lower()
    if not (
        _MAC_HEX.fullmatch(text)
        or _MAC_SEPARATED.fullmatch(text)
        or _MAC_DOTTED.fullmatch(text)
    ):
        raise ValueError(f"not a MAC address: {value!r}")
    digits = re.sub(r"[^0-9a-f]", "", text)
    first_octet = int(digits[:2], 16)
    if first_octet & 0x01 or digits == "0" * 12:
        raise ValueError(f"not the MAC address of a network card: {value!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def check_secret(value: str) -> str:
    """Return the handshake secret without surrounding whitespace.

    BaluHost refuses secrets shorter than 32 characters, and so do we: the secret
    is the only thing that authenticates the NAS's pushes. Surrounding whitespace
    comes from copy and paste; BaluHost signs with the string as stored.
    """
    text = value.strip()
    if len(text) < SECRET_MIN_LENGTH:
        raise ValueError(f"secret shorter than {SECRET_MIN_LENGTH} characters")
    return text


def generate_secret() -> str:
    """Return a new secret in the form BaluHost generates: 48 URL-safe characters."""
    return secrets.token_urlsafe(SECRET_GENERATED_BYTES)


def parse_plug_host(value: str) -> tuple[str, int | None]:
    """Return (IP address, port or None) from ``IP`` or ``IP:port``.

    A port is only needed for a plug reached through port forwarding (or a
    simulator); plugs normally announce their port themselves.
    """
    text = value.strip()
    host, port = text, None
    if text.count(":") == 1:  # IPv4 with port; bare IPv6 has more colons
        host, _, port_text = text.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in {text!r}")
        port = int(port_text)
    elif text.startswith("[") and "]:" in text:
        host, _, port_text = text[1:].partition("]:")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in {text!r}")
        port = int(port_text)
    return normalize_ip(host), port
