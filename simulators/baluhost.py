"""A loopback BaluHost NAS: the HTTP API that BaluPi talks to.

Wire facts (BaluHost ``backend``): ``GET /api/health`` and its alias ``GET /api/ping``
need no auth and answer ``{"status": "ok", "version": ..., "api_version": "1",
"min_api_version": "1"}``.

The simulator can be switched between behaviours a real NAS shows: up, down with the
port closed (refused), down but silent (a hung or sleeping host: the TCP connection is
accepted and nothing comes back), slow, and broken (HTTP 500); and it can answer like no
NAS should (``hostile``, see ``simulators.hostile``).

The NAS's own pushes to the Pi (signed, with the snapshot) are
``simulators.nas_push.NasPushClient``; the snapshot is ``simulators.snapshot``.

Run it alone with ``python -m simulators.baluhost --port 8000``. Send one push as the NAS
would, and exit (status 1 when the Pi did not acknowledge):
``python -m simulators.baluhost --push-offline http://pi:8000 --secret S`` (or
``--push-online URL``). The URL is ``BALUPI_URL``: the NAS's fixed path is appended and
signed, unless ``--path`` names another one (e.g. ``/api/webhook/ID``). ``--secret``
defaults to ``$BALUPI_HANDSHAKE_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from enum import StrEnum
import logging
import os
import time
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from .hostile import Hostile, hostile_response
from .nas_push import NasPushClient
from .server import LoopbackHttpServer
from .snapshot import make_snapshot

BALUHOST_VERSION = "1.16.2"


# What a BaluHost NAS draws: running, in soft sleep, and switched off.
ACTIVE_W = 45.0
STANDBY_W = 8.0
OFF_W = 0.5


class SupportsPower(Protocol):
    """A simulated plug whose power reading the NAS sets."""

    power_w: float


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes], None]) -> None:
        self._received = received

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._received(data)


class NasMode(StrEnum):
    """How the simulated NAS behaves towards new requests."""

    UP = "up"
    REFUSED = "refused"
    SILENT = "silent"
    ERROR = "error"


class BaluHostSimulator(LoopbackHttpServer):
    """One simulated NAS on ``host``, on a fixed port that survives mode changes."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, mac: str = "aa:bb:cc:00:11:22"
    ) -> None:
        """Prepare a NAS on ``host``; port 0 picks a free port at start."""
        super().__init__(host, port)
        self.mac = mac
        self.boot_time = 1.0
        """Seconds from a Wake-on-LAN packet to the health endpoint answering."""
        self.plug: SupportsPower | None = None
        """The simulated plug the NAS hangs on; its power follows the NAS."""
        self.wol_packets = 0
        """Magic packets for this NAS's MAC that reached it."""
        self.woken_at: float | None = None
        """Unix time the last magic packet started a boot."""
        self.up_at: float | None = None
        """Unix time the NAS last started answering (``run()``)."""
        self._wol: asyncio.DatagramTransport | None = None
        self._booting: asyncio.Task[None] | None = None
        self.version = BALUHOST_VERSION
        self.health_requests = 0
        """Requests that reached /api/health or /api/ping, in every mode but refused."""
        self.hostile: Hostile | None = None
        """Answer health checks with this instead (in every mode but refused)."""
        self._mode = NasMode.UP

    @property
    def mode(self) -> NasMode:
        """The current behaviour."""
        return self._mode

    async def start(self) -> None:
        """Start serving; with port 0 a free port is chosen and kept."""
        app = web.Application()
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/api/ping", self._health)
        await self._start_app(app)

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._wol is not None:
            self._wol.close()
        if self._booting is not None:
            self._booting.cancel()
        await self._stop_app()

    async def set_mode(self, mode: NasMode) -> None:
        """Change behaviour; ``REFUSED`` closes the port, leaving it reopens it."""
        self._mode = mode
        await self._set_reachability(
            refused=mode is NasMode.REFUSED, silent=mode is NasMode.SILENT
        )

    async def power(self, watts: float) -> None:
        """Set what the NAS draws from its plug."""
        if self.plug is not None:
            self.plug.power_w = watts

    async def sleep(self) -> None:
        """BaluHost's soft sleep: the API does not answer, the plug reads standby."""
        await self.set_mode(NasMode.SILENT)
        await self.power(STANDBY_W)

    async def shut_down(self) -> None:
        """Power off: nothing answers (no host to reset connections), under 1 W."""
        await self.set_mode(NasMode.SILENT)
        await self.power(OFF_W)

    async def run(self) -> None:
        """Up and answering, at full power."""
        await self.power(ACTIVE_W)
        await self.set_mode(NasMode.UP)
        self.up_at = time.time()

    async def listen_for_wake_on_lan(self, port: int = 0) -> int:
        """Boot ``boot_time`` seconds after a magic packet for ``mac`` arrives.

        Listens on UDP ``(host, port)``; returns the port (0 picks a free one).
        """
        expected = b"\xff" * 6 + bytes.fromhex(self.mac.replace(":", "")) * 16
        loop = asyncio.get_running_loop()

        def received(data: bytes) -> None:
            if data[:102] == expected:
                self.wol_packets += 1
                if self._booting is None or self._booting.done():
                    self.woken_at = time.time()
                    self._booting = loop.create_task(self._boot())

        self._wol, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(received), local_addr=(self.host, port)
        )
        wol_port: int = self._wol.get_extra_info("sockname")[1]
        return wol_port

    async def _boot(self) -> None:
        # Firmware and disks first: the host is up, the service not yet, so
        # connections are refused until it starts.
        await self.power(STANDBY_W)
        await self.set_mode(NasMode.REFUSED)
        await asyncio.sleep(self.boot_time)
        await self.run()

    async def _health(self, request: web.Request) -> web.StreamResponse:
        self.health_requests += 1
        await self._gate()
        if self._mode is NasMode.ERROR:
            return web.json_response({"detail": "Internal Server Error"}, status=500)
        reply = web.json_response(
            {
                "status": "ok",
                "version": self.version,
                "api_version": "1",
                "min_api_version": "1",
            }
        )
        if self.hostile is not None:
            return await hostile_response(
                request, self.hostile, reply, wrong_types=WRONG_TYPES
            )
        return reply


WRONG_TYPES = b'{"status": "ok", "version": {"major": 1}, "api_version": [1]}'
"""A health reply with values of types BaluHost never sends."""


async def _serve(host: str, port: int) -> None:
    nas = BaluHostSimulator(host, port)
    await nas.start()
    logging.getLogger(__name__).warning("BaluHost simulator listening on %s", nas.url)
    try:
        await asyncio.Event().wait()
    finally:
        await nas.stop()


async def _push_once(url: str, secret: str, path: str | None, *, offline: bool) -> bool:
    """Send one push as the NAS would; whether the Pi acknowledged it."""
    async with aiohttp.ClientSession() as session:
        client = NasPushClient(session, url, secret)
        if path is not None:
            client.path_offline = client.path_online = path
        if offline:
            reply = await client.going_offline(make_snapshot())
        else:
            reply = await client.coming_online()
    logging.getLogger(__name__).warning(
        "%s %s: %s", "going offline" if offline else "coming online", url, reply
    )
    return reply.ok


def main() -> None:
    """Run one simulated NAS until interrupted, or send one push and exit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    push = parser.add_mutually_exclusive_group()
    push.add_argument(
        "--push-offline", metavar="URL", help="send the shutdown push with a snapshot"
    )
    push.add_argument("--push-online", metavar="URL", help="send the startup push")
    parser.add_argument(
        "--path", help="push to (and sign) this path instead of the NAS's fixed one"
    )
    parser.add_argument(
        "--secret",
        default=os.environ.get("BALUPI_HANDSHAKE_SECRET", ""),
        help="the shared secret (default: $BALUPI_HANDSHAKE_SECRET)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    url = args.push_offline or args.push_online
    if url:
        if not args.secret:
            parser.error("a push needs --secret or $BALUPI_HANDSHAKE_SECRET")
        ok = asyncio.run(
            _push_once(
                url, args.secret, args.path, offline=args.push_offline is not None
            )
        )
        raise SystemExit(0 if ok else 1)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
