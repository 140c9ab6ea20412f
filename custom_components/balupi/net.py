"""Short, user-facing reasons for failed HTTP connections (plain Python)."""

from __future__ import annotations

import aiohttp


def connect_reason(err: aiohttp.ClientConnectorError) -> str:
    """Why a connection could not be made, in a few words.

    A TLS failure carries no OS error (a Pi-hole's own https certificate is
    self-signed, for example), so it is named before the OS error is read.
    """
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate not accepted (use http:// or a trusted certificate)"
    if isinstance(err, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(err.os_error, ConnectionRefusedError):
        return "connection refused"
    return f"cannot connect: {err.os_error.strerror or type(err.os_error).__name__}"
