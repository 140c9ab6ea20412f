"""BaluPi's endpoints on Home Assistant's HTTP server.

The NAS calls the paths the old Pi served, at ``BALUPI_URL`` = Home Assistant's URL:

* ``POST /api/handshake/nas-going-offline`` (snapshot) and
  ``POST /api/handshake/nas-coming-online`` (no body), signed instead of signed in;
* ``GET /api/health``, unauthenticated, for the NAS's "test" button (it reads
  ``version`` and ``hostname``).

The same two pushes are also accepted as Home Assistant webhooks (local network only,
POST only), and signed-in users can read ``GET /api/handshake/status`` and
``GET /api/handshake/snapshot``. A push is checked against each loaded entry's secret,
so one Home Assistant can serve several NAS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
import socket
from typing import TYPE_CHECKING, Any

from aiohttp import web
from homeassistant.components import webhook
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .handshake import (
    INVALID_SIGNATURE,
    MAX_BODY,
    SMALL_BODY,
    TOO_LARGE,
    BodyDigest,
    PushRejectedError,
    ReplayGuard,
    VerifiedPush,
    digest_small_body,
    hash_body,
    parse_body,
)
from .replay import DATA_REPLAY

if TYPE_CHECKING:
    from .coordinator import BaluPiConfigEntry

GOING_OFFLINE_PATH = "/api/handshake/nas-going-offline"
COMING_ONLINE_PATH = "/api/handshake/nas-coming-online"
HEALTH_PATH = "/api/health"
STATUS_PATH = "/api/handshake/status"
SNAPSHOT_PATH = "/api/handshake/snapshot"
_CHUNK = 64 * 1024
BODY_SLOTS = 2
"""Bodies over 16 KiB read and hashed at a time; the others wait for a slot."""
BODY_DEADLINE = 10.0
"""Seconds a push's body may take to arrive, waiting for a slot included (the NAS
sends a few KB at once and gives up after 10 s)."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """What bounds the work on push bodies, for all entries together."""

    slots: asyncio.Semaphore
    """Held while a body over 16 KiB is read and hashed."""
    hashing: asyncio.Lock
    """Held while a worker thread hashes or parses a body: one at a time, since
    Python runs one thread at a time anyway, and every further one would delay the
    event loop's turn."""


DATA_BODY_LIMITS: HassKey[BodyLimits] = HassKey(f"{DOMAIN}_body_limits")


class Push(StrEnum):
    """The two things the NAS tells the Pi."""

    GOING_OFFLINE = "nas-going-offline"
    COMING_ONLINE = "nas-coming-online"


@callback
def async_register_views(hass: HomeAssistant, version: str) -> None:
    """Serve BaluPi's paths; called once, when the integration is set up."""
    hass.data[DATA_BODY_LIMITS] = BodyLimits(
        asyncio.Semaphore(BODY_SLOTS), asyncio.Lock()
    )
    hass.http.register_view(HealthView(version, socket.gethostname()))
    hass.http.register_view(PushView(GOING_OFFLINE_PATH, Push.GOING_OFFLINE))
    hass.http.register_view(PushView(COMING_ONLINE_PATH, Push.COMING_ONLINE))
    hass.http.register_view(StatusView())
    hass.http.register_view(SnapshotView())


@callback
def async_register_webhooks(hass: HomeAssistant, entry: BaluPiConfigEntry) -> None:
    """Accept the entry's pushes at its two webhooks until the entry unloads."""
    connection = entry.runtime_data.connection
    for push, webhook_id in (
        (Push.GOING_OFFLINE, connection.webhook_going_offline),
        (Push.COMING_ONLINE, connection.webhook_coming_online),
    ):
        webhook.async_register(
            hass,
            DOMAIN,
            f"BaluPi: {push.value}",
            webhook_id,
            _webhook_handler(entry, push),
            local_only=True,
            allowed_methods=["POST"],
        )
        entry.async_on_unload(partial(webhook.async_unregister, hass, webhook_id))


def _webhook_handler(
    entry: BaluPiConfigEntry, push: Push
) -> Callable[[HomeAssistant, str, web.Request], Awaitable[web.Response]]:
    async def handle(
        hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        return await handle_push(hass, request, push, [entry])

    return handle


async def handle_push(
    hass: HomeAssistant,
    request: web.Request,
    push: Push,
    entries: list[BaluPiConfigEntry],
) -> web.Response:
    """Verify a push against ``entries`` and let the matching NAS's lifecycle act.

    Whatever a sender gets wrong is answered with a 4xx and one warning; nothing of
    it raises (a webhook would turn an exception into a 200 and a traceback).
    """
    replay = hass.data[DATA_REPLAY]
    try:
        entry, verified = await _accept(hass, request, entries, replay.guard)
    except PushRejectedError as err:
        LOGGER.warning(
            "Refused a push to %s from %s: %s (HTTP %s)",
            request.path,
            request.remote,
            err.reason,
            err.status,
        )
        refusal = web.json_response(
            {"acknowledged": False, "error": err.reason}, status=err.status
        )
        if _large_body_unread(request):
            return await _answer_and_hang_up(request, refusal)
        return refusal
    # Kept before it takes effect: after a restart, it is still a replay.
    await replay.async_save()
    nas = entry.runtime_data.nas
    LOGGER.info("The NAS says: %s", push.value)
    if push is Push.GOING_OFFLINE:
        reply = await nas.async_nas_going_offline(verified.body)
    else:
        reply = await nas.async_nas_coming_online()
    return web.json_response(reply)


def _large_body_unread(request: web.Request) -> bool:
    """Whether more than 16 KiB of the body (or an unknown amount) is left unread."""
    length = request.content_length
    return not request.content.at_eof() and (length is None or length > SMALL_BODY)


async def _answer_and_hang_up(
    request: web.Request, response: web.Response
) -> web.Response:
    """Send ``response`` and close the connection without reading the rest.

    Home Assistant's server would otherwise read and throw away what is left of the
    body for up to 10 s: with many such senders at once, that costs CPU, and memory
    that the allocator does not give back. A small body (the NAS's: a NAS with a
    wrong clock must still see its 401) is left to the server to read.
    """
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if (transport := request.transport) is not None:
        transport.close()
    return response


async def _accept(
    hass: HomeAssistant,
    request: web.Request,
    entries: list[BaluPiConfigEntry],
    guard: ReplayGuard,
) -> tuple[BaluPiConfigEntry, VerifiedPush]:
    """The entry whose secret signed the push, and the push; checks in cost order.

    The headers (timestamp window, signature format, replay) are checked before a
    byte of the body is read: a push without them costs nothing more.
    """
    if not entries:
        raise PushRejectedError(503, "BaluPi is not loaded")
    headers = guard.admit(request.headers)
    body = await _receive(hass, request)
    for entry in entries:
        if entry.runtime_data.verifier.signed(
            request.method, request.path, headers, body
        ):
            value = (
                body.value if body.parsed else await _in_worker(hass, parse_body, body)
            )
            # Remembered only now: a copy that raced this one through the
            # parsing is refused here.
            guard.remember(headers)
            return entry, VerifiedPush(
                request.method.upper(), request.path, headers.timestamp, value
            )
    raise PushRejectedError(401, INVALID_SIGNATURE)


async def _receive(hass: HomeAssistant, request: web.Request) -> BodyDigest:
    """Read and hash the body, within bounds of time, memory and CPU.

    A body of up to 16 KiB (a snapshot is a few KB; the startup push has none) is
    read and parsed at once. A larger one, or one of unknown length, first waits
    for one of ``BODY_SLOTS``, and is hashed in a worker thread by code that lets
    the event loop run every few milliseconds and leaves no objects behind: however
    many arrive together, at most that many are held in memory, and one is hashed
    at a time. Each body must have arrived within ``BODY_DEADLINE`` seconds
    (waiting for a slot included), so a slow sender cannot hold a slot.
    """
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise PushRejectedError(413, TOO_LARGE)
    deadline = asyncio.get_running_loop().time() + BODY_DEADLINE
    if length is not None and length <= SMALL_BODY:
        body = await _read_body(request, deadline)
        if (digest := digest_small_body(body)) is not None:
            return digest
        # Nested too deeply for the C parser (not on CPython 3.13 within 16 KiB).
        return await _in_worker(hass, hash_body, body)
    slots = hass.data[DATA_BODY_LIMITS].slots
    try:
        async with asyncio.timeout_at(deadline):
            await slots.acquire()
    except TimeoutError:
        raise PushRejectedError(429, "too many pushes at once") from None
    try:
        body = await _read_body(request, deadline)
        return await _in_worker(hass, hash_body, body)
    finally:
        slots.release()


async def _in_worker[T, R](
    hass: HomeAssistant, work: Callable[[T], R], argument: T
) -> R:
    """Run ``work`` in a worker thread, one body at a time."""
    async with hass.data[DATA_BODY_LIMITS].hashing:
        return await hass.async_add_executor_job(work, argument)


async def _read_body(request: web.Request, deadline: float) -> bytes:
    """The request body, refused with 413 as soon as it passes 1 MiB.

    408 when it has not arrived by ``deadline`` (loop time). A sender that hangs up
    cancels the handler (Home Assistant's server does that), which frees its slot.
    """
    body = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            while chunk := await request.content.read(_CHUNK):
                body += chunk
                if len(body) > MAX_BODY:
                    raise PushRejectedError(413, TOO_LARGE)
    except TimeoutError:
        raise PushRejectedError(
            408, f"body not received within {BODY_DEADLINE:g} s"
        ) from None
    return bytes(body)


def _loaded(hass: HomeAssistant) -> list[BaluPiConfigEntry]:
    return hass.config_entries.async_loaded_entries(DOMAIN)


class PushView(HomeAssistantView):
    """One of the NAS's two pushes; its signature replaces Home Assistant's auth."""

    requires_auth = False

    def __init__(self, url: str, push: Push) -> None:
        """Serve ``push`` at ``url``."""
        self.url = url
        self.name = f"api:{DOMAIN}:{push.value}"
        self._push = push

    async def post(self, request: web.Request) -> web.Response:
        """Verify the push and act on it."""
        hass = request.app[KEY_HASS]
        return await handle_push(hass, request, self._push, _loaded(hass))


class HealthView(HomeAssistantView):
    """What the NAS's "test" button asks: is BaluPi there, which version, which host."""

    url = HEALTH_PATH
    name = f"api:{DOMAIN}:health"
    requires_auth = False

    def __init__(self, version: str, hostname: str) -> None:
        """Answer with BaluPi's ``version`` and the Pi's ``hostname``."""
        self._reply = {
            "status": "ok",
            "service": DOMAIN,
            "version": version,
            "hostname": hostname,
        }

    async def get(self, request: web.Request) -> web.Response:
        """Say that BaluPi runs."""
        return web.json_response(self._reply)


class _EntryView(HomeAssistantView, ABC):
    """A view for signed-in users about one entry (``?entry_id=``, or the only one)."""

    async def get(self, request: web.Request) -> web.Response:
        """Answer about the chosen entry; 404 or 400 when there is none or no choice."""
        entries = _loaded(request.app[KEY_HASS])
        wanted = request.query.get("entry_id")
        chosen = [e for e in entries if wanted is None or e.entry_id == wanted]
        if not chosen:
            return self.json_message("No BaluPi entry loaded", 404)
        if len(chosen) > 1:
            return self.json_message("Pass ?entry_id=", 400)
        return self.answer(chosen[0])

    @abstractmethod
    def answer(self, entry: BaluPiConfigEntry) -> web.Response:
        """The reply about ``entry``."""


class StatusView(_EntryView):
    """The handshake's status: NAS state, last snapshot, inbox, DNS record."""

    url = STATUS_PATH
    name = f"api:{DOMAIN}:status"

    def answer(self, entry: BaluPiConfigEntry) -> web.Response:
        """Report the status of the NAS and what the Pi holds for it."""
        status = entry.runtime_data.nas.status
        reply: dict[str, Any] = {
            "nas_state": status.state.value,
            "since": status.since.isoformat(),
            "last_snapshot": (
                status.snapshot.received_at.isoformat() if status.snapshot else None
            ),
            "inbox_files": None,
            "inbox_size_mb": None,
            "dns": status.dns.pointer if status.dns else None,
        }
        if status.inbox is not None and status.inbox.content is not None:
            reply["inbox_files"] = status.inbox.content.files
            reply["inbox_size_mb"] = round(status.inbox.content.bytes / 1e6, 3)
        return self.json(reply)


class SnapshotView(_EntryView):
    """The snapshot the NAS sent when it last shut down."""

    url = SNAPSHOT_PATH
    name = f"api:{DOMAIN}:snapshot"

    def answer(self, entry: BaluPiConfigEntry) -> web.Response:
        """Return the snapshot as the NAS sent it, or 404."""
        snapshot = entry.runtime_data.nas.snapshots.current
        if snapshot is None:
            return self.json_message("No snapshot available", 404)
        return self.json(snapshot.data)
