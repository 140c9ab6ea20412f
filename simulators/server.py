"""What every loopback simulator's HTTP side shares.

A simulated peer serves an aiohttp app on a fixed loopback port that survives going
offline, and can be refused (its service is down: the port is closed and open
connections are reset), silent (a hung or sleeping host: connections are accepted and
nothing comes back) or slow.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web


class LoopbackHttpServer:
    """An aiohttp app on ``(host, port)`` whose reachability can be switched."""

    def __init__(self, host: str, port: int) -> None:
        """Serve on ``host``; port 0 picks a free port at start and keeps it."""
        self.host = host
        self.port = port
        self.latency = 0.0
        """Seconds to wait before answering every request."""
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._silent = False
        self._woken = asyncio.Event()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self.host}:{self.port}"

    async def _start_app(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        if self.port == 0:
            self.port = free_port(self.host)
        await self._listen()

    async def _stop_app(self) -> None:
        self._woken.set()
        await self._stop_accepting()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def _set_reachability(self, *, refused: bool, silent: bool) -> None:
        """Close or reopen the port; hold or release requests."""
        if refused and self._site is not None:
            # A stopped service: new connections are refused and the kernel resets
            # the open ones, so keep-alive connections die too instead of hanging.
            await self._stop_accepting()
            await self._site.stop()
            self._site = None
            server = self._runner.server if self._runner is not None else None
            for connection in server.connections if server is not None else ():
                connection.force_close()
        elif not refused and self._site is None and self._runner is not None:
            await self._listen()
        self._silent = silent
        if not silent:
            # Release the requests a silent server was holding; they see the new
            # behaviour.
            self._woken.set()
            self._woken = asyncio.Event()

    async def _stop_accepting(self) -> None:
        """Stop taking connections, and let the ones just accepted join the server.

        asyncio accepts a connection in one step and attaches it to its server in a
        task; a server closed in between fails that task (an AssertionError in
        ``Server._attach``, seen on Python 3.14). So: no more accepts, then a few
        loop turns for those tasks, then the caller closes.
        """
        server: asyncio.Server | None = getattr(self._site, "_server", None)
        if server is None:
            return
        loop = asyncio.get_running_loop()
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())
        for _ in range(3):
            await asyncio.sleep(0)

    async def _listen(self) -> None:
        if self._runner is None:
            raise RuntimeError("simulator not started")
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()

    async def _gate(self) -> None:
        """Hold a request while silent, then wait the configured latency."""
        if self._silent:
            await self._woken.wait()
        if self.latency:
            await asyncio.sleep(self.latency)


def free_port(host: str) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
