"""Client for the BaluHost NAS's unauthenticated health endpoint.

Plain Python on top of an injected ``aiohttp.ClientSession`` (Home Assistant's shared
session in the integration, any session in tests and tools). BaluHost answers
``GET /api/health`` with ``{"status": "ok", "version": ..., "api_version": "1", ...}``.
Any other reply, however odd (see ``peer_reply``), is a ``NasReplyError``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import time

import aiohttp

from .net import connect_reason
from .peer_reply import ACCEPT_IDENTITY, ReplyError, parse_json, printable, read_body

HEALTH_PATH = "/api/health"
# A health reply is a few dozen bytes; anything much larger is not BaluHost.
MAX_HEALTH_BYTES = 64 * 1024


class NasError(Exception):
    """The NAS did not give a usable health reply; ``str()`` says why, briefly."""


class NasUnreachableError(NasError):
    """No HTTP reply at all: refused, no route, name not resolved or timed out."""


class NasReplyError(NasError):
    """An HTTP reply came back, but not BaluHost's healthy one."""


@dataclass(frozen=True, slots=True)
class NasHealth:
    """A healthy reply from the NAS."""

    version: str | None
    api_version: str | None
    latency: float
    """Seconds from sending the request to having parsed the reply."""


async def fetch_health(
    session: aiohttp.ClientSession, base_url: str, *, timeout: float
) -> NasHealth:
    """Ask the NAS at ``base_url`` whether its API is up.

    Raises ``NasUnreachableError`` when nothing answers within ``timeout`` seconds and
    ``NasReplyError`` for an answer that is not a healthy BaluHost reply. Redirects
    are not followed: BaluHost never redirects its health endpoint.
    """
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            async with session.get(
                base_url + HEALTH_PATH,
                allow_redirects=False,
                headers={"Accept": "application/json", **ACCEPT_IDENTITY},
                auto_decompress=False,
            ) as response:
                if response.status != 200:
                    raise NasReplyError(f"HTTP {response.status}")
                body = await read_body(response, MAX_HEALTH_BYTES)
    except ReplyError as err:
        raise NasReplyError(str(err)) from err
    except TimeoutError as err:
        raise NasUnreachableError(f"no reply within {timeout:g} s") from err
    except aiohttp.ClientConnectorError as err:
        raise NasUnreachableError(connect_reason(err)) from err
    except (aiohttp.ClientError, OSError) as err:
        raise NasUnreachableError(f"connection failed: {type(err).__name__}") from err
    latency = time.monotonic() - started
    return _parse_health(body, latency)


def _parse_health(body: bytes, latency: float) -> NasHealth:
    try:
        data = parse_json(body)
    except ReplyError as err:
        raise NasReplyError(str(err)) from err
    if not isinstance(data, dict) or data.get("status") != "ok":
        raise NasReplyError("reply is not a healthy BaluHost status")
    return NasHealth(
        version=_optional_text(data.get("version"), "version"),
        api_version=_optional_text(data.get("api_version"), "api_version"),
        latency=latency,
    )


def _optional_text(value: object, key: str) -> str | None:
    """A version as text (BaluHost sends strings; a number is taken as one)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise NasReplyError(f"reply has a {key} that is not text")
    return printable(str(value)[:64], 64)
