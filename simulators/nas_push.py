"""The BaluHost NAS's push client: the signed calls the real NAS makes to the Pi.

Reproduces BaluHost ``backend/app/services/balupi_handshake.py`` on the wire
(``shared/reference/baluhost-protocol.md`` §1.2-1.6), written from its source, not
from our receiver, so that tests and benchmarks drive Home Assistant like the NAS:

* ``POST {BALUPI_URL}/api/handshake/nas-going-offline`` with the snapshot, 10 s, when
  the NAS backend stops; ``POST .../nas-coming-online`` without a body, 5 s, when it
  starts. The URL is ``BALUPI_URL.rstrip("/") + path``; only ``path`` is signed, never a
  path prefix that ``BALUPI_URL`` carries.
* ``X-Balupi-Timestamp`` is ``str(int(time.time()))``; ``X-Balupi-Signature`` the
  lowercase hex HMAC-SHA256, keyed with the secret's UTF-8 bytes, of
  ``"POST:{path}:{timestamp}:{sha256_hex(canonical)}"``, where ``canonical`` is
  ``json.dumps(body, sort_keys=True, separators=(",", ":"))`` or ``b""`` without a body.
* ``Content-Type: application/json`` on both calls, the empty one included
  (``Content-Length: 0``).
* The body sent is *not* the canonical JSON that was hashed: httpx 0.27 (which the NAS
  pins) serialises ``json=`` with plain ``json.dumps(body)``: insertion order, ``", "``
  and ``": "``, ASCII escapes. :func:`wire_body` gives those bytes.
* One attempt. Redirects are not followed (a 3xx is a failure like any non-2xx). The
  timeout applies to each phase (connect, waiting for and reading the reply), not to
  the whole exchange. A 2xx whose body is not JSON is a failure; success is a JSON
  object with a truthy ``acknowledged``.

The User-Agent, Accept and Accept-Encoding headers are httpx's defaults (the NAS sets
none of its own). What the NAS only logs (``dns_switched``, ``inbox_flushed``,
``files_transferred``) is in :attr:`PushReply.body`.

For forged requests (replayed, stale, tampered) build them from
:func:`signed_headers` and :func:`wire_body`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

OFFLINE_PATH = "/api/handshake/nas-going-offline"
ONLINE_PATH = "/api/handshake/nas-coming-online"
OFFLINE_TIMEOUT = 10.0
"""Seconds the NAS gives the shutdown push, per phase."""
ONLINE_TIMEOUT = 5.0
"""Seconds the NAS gives the startup push, per phase."""
TIMESTAMP_HEADER = "X-Balupi-Timestamp"
SIGNATURE_HEADER = "X-Balupi-Signature"
HTTPX_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "python-httpx/0.27.2",
}
"""What httpx 0.27 adds to every request by default."""


@dataclass(frozen=True, slots=True)
class PushReply:
    """How one push went, as the NAS would judge it."""

    ok: bool
    """The Pi acknowledged: a 2xx JSON object with a truthy ``acknowledged``."""
    status: int | None
    """The HTTP status, or None when no reply came."""
    body: dict[str, Any] | None
    """The reply, if it was a JSON object (whatever the status)."""
    error: str | None
    """Why it failed, e.g. ``"HTTP 401"``, ``"timed out"``, ``"not JSON"``."""


def canonical_body(body: Any) -> bytes:
    """The bytes BaluHost hashes for ``body``: sorted keys, no spaces, ASCII escapes."""
    if body is None:
        return b""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def wire_body(body: Any) -> bytes:
    """The bytes BaluHost sends for ``body``: httpx 0.27's plain ``json.dumps``."""
    return json.dumps(body).encode("utf-8")


def signed_headers(
    secret: str, method: str, path: str, body: Any, *, timestamp: int
) -> dict[str, str]:
    """The headers BaluHost sends with a request; ``body`` None means no body.

    Raises:
        ValueError: The secret is empty (the NAS refuses to sign, too).
    """
    if not secret:
        raise ValueError("balupi_handshake_secret is not configured")
    stamp = str(timestamp)
    body_hash = hashlib.sha256(canonical_body(body)).hexdigest()
    message = f"{method.upper()}:{path}:{stamp}:{body_hash}"
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature,
        "Content-Type": "application/json",
    }


class NasPushClient:
    """The NAS's side of the handshake with one Pi at ``url`` (``BALUPI_URL``)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        path_offline: str = OFFLINE_PATH,
        path_online: str = ONLINE_PATH,
        timeout_offline: float = OFFLINE_TIMEOUT,
        timeout_online: float = ONLINE_TIMEOUT,
    ) -> None:
        """Push to ``url`` through ``session``; nothing is sent before a call.

        Args:
            session: The HTTP session to send with.
            url: ``BALUPI_URL``: the Pi's base URL; a trailing ``/`` is dropped, and a
                path prefix is sent but not signed, as the NAS does.
            secret: ``BALUPI_HANDSHAKE_SECRET``, used as its UTF-8 bytes.
            clock: Unix seconds; the timestamp header is its integer part.
            path_offline: The shutdown push's path, e.g. ``/api/webhook/<id>``.
            path_online: The startup push's path.
            timeout_offline: Seconds per phase for the shutdown push.
            timeout_online: Seconds per phase for the startup push.
        """
        self._session = session
        self._url = url.rstrip("/")
        self._secret = secret
        self._clock = clock
        self.path_offline = path_offline
        self.path_online = path_online
        self.timeout_offline = timeout_offline
        self.timeout_online = timeout_online

    async def going_offline(self, snapshot: dict[str, Any]) -> PushReply:
        """The push the NAS makes when its backend stops: the snapshot, 10 s."""
        return await self.push(self.path_offline, snapshot, self.timeout_offline)

    async def coming_online(self) -> PushReply:
        """The push the NAS makes when its backend has started: no body, 5 s."""
        return await self.push(self.path_online, None, self.timeout_online)

    async def push(self, path: str, body: Any, timeout: float) -> PushReply:
        """One signed ``POST`` of ``body`` (None: no body) to ``path``, one attempt."""
        if not self._url:
            # The NAS logs "balupi_url not configured" and sends nothing.
            return PushReply(False, None, None, "balupi_url not configured")
        headers = HTTPX_HEADERS | signed_headers(
            self._secret, "POST", path, body, timestamp=int(self._clock())
        )
        data = b"" if body is None else wire_body(body)
        try:
            async with self._session.post(
                self._url + path,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=timeout, sock_read=timeout
                ),
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            return PushReply(False, None, None, "timed out")
        except aiohttp.ClientConnectorError as err:
            reason = (
                "connection refused"
                if isinstance(err.os_error, ConnectionRefusedError)
                else f"cannot connect: {err.os_error.strerror or type(err.os_error).__name__}"
            )
            return PushReply(False, None, None, reason)
        except (aiohttp.ClientError, OSError) as err:
            return PushReply(
                False, None, None, f"connection failed: {type(err).__name__}"
            )
        return _judge(status, raw)


def _judge(status: int, raw: bytes) -> PushReply:
    """What the NAS makes of a reply: ``raise_for_status()``, ``json()``, the ack."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
        is_json = False
    else:
        is_json = True
    body = parsed if isinstance(parsed, dict) else None
    if not 200 <= status < 300:
        return PushReply(False, status, body, f"HTTP {status}")
    if not is_json:
        return PushReply(False, status, None, "not JSON")
    if not parsed:
        # `result and result.get("acknowledged")`: a falsy reply is no ack.
        return PushReply(False, status, body, "not acknowledged")
    if body is None:
        # `.get` on a list, string or number raises on the NAS.
        return PushReply(False, status, None, "not a JSON object")
    if not body.get("acknowledged"):
        return PushReply(False, status, body, "not acknowledged")
    return PushReply(True, status, body, None)
