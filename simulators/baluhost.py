"""A loopback BaluHost NAS: the HTTP API that BaluPi talks to.

Wire facts (BaluHost ``backend``): ``GET /api/health`` and its alias ``GET /api/ping``
need no auth and answer ``{"status": "ok", "version": ..., "api_version": "1",
"min_api_version": "1"}``.

The simulator can be switched between behaviours a real NAS shows: up, down with the
port closed (refused), down but silent (a hung or sleeping host: the TCP connection is
accepted and nothing comes back), slow, and broken (HTTP 500).

Run it alone with ``python -m simulators.baluhost --port 8000``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from enum import StrEnum
import logging
import socket

from aiohttp import web

BALUHOST_VERSION = "1.16.2"


class NasMode(StrEnum):
    """How the simulated NAS behaves towards new requests."""

    UP = "up"
    REFUSED = "refused"
    SILENT = "silent"
    ERROR = "error"


class BaluHostSimulator:
    """One simulated NAS on ``host``, on a fixed port that survives mode changes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare a NAS on ``host``; port 0 picks a free port at start."""
        self.host = host
        self.port = port
        self.version = BALUHOST_VERSION
        self.latency = 0.0
        """Seconds the NAS waits before answering a request."""
        self.health_requests = 0
        """Requests that reached /api/health or /api/ping, in every mode but refused."""
        self._mode = NasMode.UP
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._woken = asyncio.Event()

    @property
    def url(self) -> str:
        """Base URL of the simulated NAS, as a user would type it."""
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> NasMode:
        """The current behaviour."""
        return self._mode

    async def start(self) -> None:
        """Start serving; with port 0 a free port is chosen and kept."""
        app = web.Application()
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/api/ping", self._health)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        if self.port == 0:
            self.port = _free_port(self.host)
        await self._listen()

    async def stop(self) -> None:
        """Stop serving and release the port."""
        self._woken.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def set_mode(self, mode: NasMode) -> None:
        """Change behaviour; ``REFUSED`` closes the port, leaving it reopens it."""
        previous, self._mode = self._mode, mode
        if mode is NasMode.REFUSED and self._site is not None:
            # A stopped service: new connections are refused and the kernel resets
            # the open ones, so keep-alive connections die too.
            await self._site.stop()
            self._site = None
            server = self._runner.server if self._runner is not None else None
            for connection in server.connections if server is not None else ():
                connection.force_close()
        elif previous is NasMode.REFUSED and self._runner is not None:
            await self._listen()
        if mode is not NasMode.SILENT:
            # Release requests that a silent NAS was holding; they see the new mode.
            self._woken.set()
            self._woken = asyncio.Event()

    async def _listen(self) -> None:
        if self._runner is None:
            raise RuntimeError("simulator not started")
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()

    async def _health(self, request: web.Request) -> web.StreamResponse:
        self.health_requests += 1
        if self._mode is NasMode.SILENT:
            await self._woken.wait()
        if self.latency:
            await asyncio.sleep(self.latency)
        if self._mode is NasMode.ERROR:
            return web.json_response({"detail": "Internal Server Error"}, status=500)
        return web.json_response(
            {
                "status": "ok",
                "version": self.version,
                "api_version": "1",
                "min_api_version": "1",
            }
        )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(host: str, port: int) -> None:
    nas = BaluHostSimulator(host, port)
    await nas.start()
    logging.getLogger(__name__).warning("BaluHost simulator listening on %s", nas.url)
    try:
        await asyncio.Event().wait()
    finally:
        await nas.stop()


def main() -> None:
    """Run one simulated NAS until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
