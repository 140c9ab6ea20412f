"""A loopback BaluHost NAS: the HTTP API that BaluPi talks to.

Wire facts (BaluHost ``backend``): ``GET /api/health`` and its alias ``GET /api/ping``
need no auth and answer ``{"status": "ok", "version": ..., "api_version": "1",
"min_api_version": "1"}``.

The simulator can be switched between behaviours a real NAS's API shows: up, down with
the port closed (refused), down but silent (a hung host: the TCP connection is accepted
and nothing comes back), slow, and broken (HTTP 500); and it can answer like no NAS
should (``hostile``, see ``simulators.hostile``).

Its power states (``NasCondition``) are BaluHost's, with the plug it hangs on following
them (``plug``: its power reading follows the NAS; its relay switched off cuts the NAS's
power):

* running: the API answers, full power;
* asleep (BaluHost's soft sleep): standby power; the server stays reachable and **any
  health request wakes it**, as on BaluHost, where a request is activity. Every such
  wake-up is counted (``request_wakeups``): tests count wake-ups, not requests;
* booting: after a magic packet (``listen_for_wake_on_lan``) or the power button;
  standby power, the API refuses until it is up ``boot_time`` seconds later;
* shutting down: its services stopped (refused), still at full power for
  ``shutdown_time`` seconds, then off;
* off: under 1 W, nothing answers (no host to reset connections).

The NAS's own pushes to the Pi (signed, with the snapshot) are
``simulators.nas_push.NasPushClient``; the snapshot is ``simulators.snapshot``. With
``push`` set, the NAS sends them itself, as BaluHost does: the startup push when its
services start after a boot, the shutdown push at ``shut_down_gracefully``.

Run it alone with ``python -m simulators.baluhost --port 8000``; with ``--plug-port`` it
also runs the Tapo plug it hangs on (linked), with ``--wol-port`` a magic-packet
listener on loopback, and with ``--control-port`` small HTTP endpoints to put it to
sleep, shut it down, cut its plug and more (``CONTROL_HELP``; ``scripts/develop`` runs
it so). Send one push as the NAS would, and exit (status 1 when the Pi did not
acknowledge): ``python -m simulators.baluhost --push-offline http://pi:8000 --secret S``
(or ``--push-online URL``). The URL is ``BALUPI_URL``: the NAS's fixed path is appended
and signed, unless ``--path`` names another one (e.g. ``/api/webhook/ID``).
``--secret`` defaults to ``$BALUPI_HANDSHAKE_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import logging
import os
import sys
import time
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from .hostile import Hostile, hostile_response
from .nas_push import NasPushClient, PushReply
from .server import LoopbackHttpServer
from .snapshot import make_snapshot
from .tapo import PlugMode, TapoPlugSimulator

_LOGGER = logging.getLogger(__name__)

BALUHOST_VERSION = "1.16.2"


# What a BaluHost NAS draws: running, in soft sleep, and switched off.
ACTIVE_W = 45.0
STANDBY_W = 8.0
OFF_W = 0.5


class SupportsPower(Protocol):
    """A simulated plug whose power reading the NAS sets."""

    power_w: float


class NasCondition(StrEnum):
    """Where the simulated NAS is in its power cycle."""

    RUNNING = "running"
    ASLEEP = "asleep"
    BOOTING = "booting"
    SHUTTING_DOWN = "shutting_down"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Wakeup:
    """One time the sleeping NAS was woken, and by what."""

    at: float
    """``time.time()`` (the frozen clock in tests)."""
    by: str
    """``"request"`` (a health request: BaluPi's, in the tests), ``"magic packet"``
    or ``"by hand"``."""


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
        self.condition = NasCondition.RUNNING
        self.wakeups: list[Wakeup] = []
        """Every wake-up from sleep, with its cause."""
        self.shutdown_time = 5.0
        """Seconds from the shutdown push to the power going off."""
        self.push: NasPushClient | None = None
        """Where the NAS sends its own pushes (startup after a boot, shutdown)."""
        self.pushes: list[PushReply] = []
        """The replies to the pushes the NAS sent itself."""
        self._mode = NasMode.UP
        self._plug: SupportsPower | None = None
        self._shutting_down: asyncio.Task[None] | None = None

    @property
    def mode(self) -> NasMode:
        """The current behaviour."""
        return self._mode

    @property
    def plug(self) -> SupportsPower | None:
        """The simulated plug the NAS hangs on; its power follows the NAS.

        A ``TapoPlugSimulator`` is linked both ways: switching its relay off cuts the
        NAS's power (it is off then, until a magic packet or the power button).
        """
        return self._plug

    @plug.setter
    def plug(self, plug: SupportsPower | None) -> None:
        if isinstance(self._plug, TapoPlugSimulator):
            self._plug.on_switch = None
        self._plug = plug
        if isinstance(plug, TapoPlugSimulator):
            plug.on_switch = self._relay_switched

    @property
    def request_wakeups(self) -> int:
        """Wake-ups a health request caused: what BaluPi must never do."""
        return sum(1 for wakeup in self.wakeups if wakeup.by == "request")

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
        for task in (self._booting, self._shutting_down):
            if task is not None:
                task.cancel()
        self.plug = None
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
        """BaluHost's soft sleep: standby power; a health request wakes it."""
        self._cancel_shutdown()
        self.condition = NasCondition.ASLEEP
        await self.power(STANDBY_W)
        await self.set_mode(NasMode.UP)  # reachable: the request is what wakes it

    async def shut_down(self) -> None:
        """Power off: nothing answers (no host to reset connections), under 1 W."""
        self._cancel_shutdown()
        self.condition = NasCondition.OFF
        await self.set_mode(NasMode.SILENT)
        await self.power(OFF_W)

    async def shut_down_gracefully(self) -> PushReply | None:
        """Shut down as BaluHost does: services stop, then the power goes off.

        The services stop with the shutdown push (when ``push`` is set); the power
        goes off ``shutdown_time`` seconds later. Returns the push's reply (None
        without ``push``).
        """
        self.condition = NasCondition.SHUTTING_DOWN
        await self.set_mode(NasMode.REFUSED)
        reply = None
        if self.push is not None:
            reply = await self.push.going_offline(make_snapshot(version=self.version))
            self.pushes.append(reply)
        self._cancel_shutdown()
        self._shutting_down = asyncio.get_running_loop().create_task(
            self._power_off_later()
        )
        return reply

    async def _power_off_later(self) -> None:
        await asyncio.sleep(self.shutdown_time)
        await self.shut_down()

    def _cancel_shutdown(self) -> None:
        if self._shutting_down is not None and (
            self._shutting_down is not asyncio.current_task()
        ):
            self._shutting_down.cancel()
        self._shutting_down = None

    async def run(self) -> None:
        """Up and answering, at full power."""
        self._cancel_shutdown()
        self.condition = NasCondition.RUNNING
        await self.power(ACTIVE_W)
        await self.set_mode(NasMode.UP)
        self.up_at = time.time()

    async def wake(self, by: str = "by hand") -> None:
        """End the soft sleep (someone used the NAS); counted as a wake-up."""
        if self.condition is NasCondition.ASLEEP:
            self.wakeups.append(Wakeup(time.time(), by))
            await self.run()

    async def power_button(self) -> None:
        """Pressed while it is off: it boots (and pushes when its services start)."""
        if self.condition is NasCondition.OFF:
            self._start_boot()

    def _relay_switched(self, on: bool) -> None:
        """The plug's relay: off cuts the NAS's power at once."""
        if not on and self.condition is not NasCondition.OFF:
            if self._booting is not None:
                self._booting.cancel()
            asyncio.get_running_loop().create_task(self.shut_down())

    async def listen_for_wake_on_lan(self, port: int = 0) -> int:
        """Boot ``boot_time`` seconds after a magic packet for ``mac`` arrives.

        From sleep or off (with power at its plug); a running NAS ignores it. Listens
        on UDP ``(host, port)``; returns the port (0 picks a free one).
        """
        expected = b"\xff" * 6 + bytes.fromhex(self.mac.replace(":", "")) * 16
        loop = asyncio.get_running_loop()

        def received(data: bytes) -> None:
            if data[:102] != expected:
                return
            self.wol_packets += 1
            condition = self.condition
            if condition is NasCondition.ASLEEP:
                # Disks spin up, services resume: like a boot, ``boot_time`` long.
                self.wakeups.append(Wakeup(time.time(), "magic packet"))
                self._start_boot()
            elif condition is NasCondition.OFF:
                if self._plug_has_power():
                    self._start_boot()
            elif condition is NasCondition.RUNNING and self._mode is not NasMode.UP:
                # Put down by hand (``set_mode``, ``power``), as older tests do.
                self._start_boot()

        self._wol, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(received), local_addr=(self.host, port)
        )
        wol_port: int = self._wol.get_extra_info("sockname")[1]
        return wol_port

    def _plug_has_power(self) -> bool:
        plug = self._plug
        return not isinstance(plug, TapoPlugSimulator) or plug.is_on

    def _start_boot(self) -> None:
        if self._booting is None or self._booting.done():
            self.woken_at = time.time()
            self._booting = asyncio.get_running_loop().create_task(self._boot())

    async def _boot(self) -> None:
        # Firmware and disks first: the host is up, the service not yet, so
        # connections are refused until it starts.
        self.condition = NasCondition.BOOTING
        await self.power(STANDBY_W)
        await self.set_mode(NasMode.REFUSED)
        await asyncio.sleep(self.boot_time)
        await self.run()
        if self.push is not None:
            # BaluHost's backend has started: its startup push.
            self.pushes.append(await self.push.coming_online())

    async def _health(self, request: web.Request) -> web.StreamResponse:
        self.health_requests += 1
        if self.condition is NasCondition.ASLEEP and self._mode is NasMode.UP:
            # BaluHost's soft sleep ends on any request: it counts as activity.
            await self.wake("request")
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


CONTROL_HELP = {
    "GET /": "what the NAS and its plug are doing, and the wake-ups so far",
    "POST /sleep": "BaluHost's soft sleep: standby power; a health request wakes it",
    "POST /wake": "someone uses the sleeping NAS: it wakes (counted 'by hand')",
    "POST /shutdown": "the shutdown push, then off after the shutdown time",
    "POST /power-button": "switch the NAS on when it is off: it boots, then pushes",
    "POST /plug/off": "switch the NAS plug's relay off: the NAS loses its power",
    "POST /plug/on": "switch the relay back on (the NAS stays off until woken)",
    "POST /plug/away": "the NAS plug drops off the Wi-Fi (accepts, never answers)",
    "POST /plug/back": "the NAS plug is back on the Wi-Fi",
}
"""The control endpoints of ``--control-port``, with what each does."""


class NasControl:
    """Small HTTP endpoints that drive a simulated NAS and its plug (``CONTROL_HELP``).

    For the demo (``scripts/develop``), so a user can watch BaluPi follow the NAS:
    ``curl -X POST http://127.0.0.1:18001/sleep``.
    """

    def __init__(
        self, nas: BaluHostSimulator, plug: TapoPlugSimulator | None, wol_port: int
    ) -> None:
        """Drive ``nas``; ``plug`` is the one it hangs on (None: no plug)."""
        self.nas = nas
        self.plug = plug
        self.wol_port = wol_port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The endpoints as an aiohttp application."""
        app = web.Application()
        app.router.add_get("/", self._status)
        actions: dict[str, Callable[[], Any]] = {
            "/sleep": self.nas.sleep,
            "/wake": self.nas.wake,
            "/shutdown": self.nas.shut_down_gracefully,
            "/power-button": self.nas.power_button,
            "/plug/off": lambda: self._relay(on=False),
            "/plug/on": lambda: self._relay(on=True),
            "/plug/away": lambda: self._wifi(PlugMode.SILENT),
            "/plug/back": lambda: self._wifi(PlugMode.ONLINE),
        }
        for path, action in actions.items():
            app.router.add_post(path, self._doing(path, action))
        return app

    async def start(self, host: str, port: int) -> None:
        """Serve the endpoints on ``(host, port)``."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    def status(self) -> dict[str, Any]:
        """What the NAS and its plug are doing."""
        nas, plug = self.nas, self.plug
        return {
            "nas": {
                "url": nas.url,
                "condition": nas.condition.value,
                "api": nas.mode.value,
                "health_requests": nas.health_requests,
                "wakeups": [
                    {"at": wakeup.at, "by": wakeup.by} for wakeup in nas.wakeups
                ],
                "request_wakeups": nas.request_wakeups,
                "wake_on_lan": {"port": self.wol_port, "packets": nas.wol_packets},
                "pushes": [reply.status for reply in nas.pushes],
            },
            "plug": None
            if plug is None
            else {
                "url": plug.url,
                "mac": plug.mac,
                "wifi": plug.mode.value,
                "relay": "on" if plug.is_on else "off",
                "power_w": plug.reported_power_w,
            },
            "endpoints": CONTROL_HELP,
        }

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(self.status())

    def _doing(
        self, path: str, action: Callable[[], Any]
    ) -> Callable[[web.Request], Any]:
        async def handle(_request: web.Request) -> web.Response:
            if path.startswith("/plug/") and self.plug is None:
                return web.json_response({"error": "the NAS has no plug"}, status=409)
            result = action()
            if asyncio.iscoroutine(result):
                await result
            _LOGGER.warning("control: %s", path)
            return web.json_response({"done": path, **self.status()})

        return handle

    def _relay(self, *, on: bool) -> None:
        if self.plug is not None:
            self.plug.is_on = on

    async def _wifi(self, mode: PlugMode) -> None:
        if self.plug is not None:
            await self.plug.set_offline(mode)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The command line's NAS, its plug, its magic-packet listener and its control."""

    host: str
    port: int
    mac: str
    plug_port: int | None
    plug_alias: str
    plug_mac: str
    username: str
    password: str
    wol_port: int | None
    control_port: int | None
    push_url: str | None
    secret: str
    boot_time: float
    shutdown_time: float


ENERGY_TICK = 5.0
"""Seconds between the command line plug's energy counter updates."""


async def _serve(options: ServeOptions) -> None:
    nas = BaluHostSimulator(options.host, options.port, mac=options.mac)
    nas.boot_time = options.boot_time
    nas.shutdown_time = options.shutdown_time
    plug: TapoPlugSimulator | None = None
    control: NasControl | None = None
    out = sys.stdout
    async with contextlib.AsyncExitStack() as stack:
        await nas.start()
        stack.push_async_callback(nas.stop)
        out.write(f"BaluHost NAS {nas.url}  MAC {nas.mac}\n")
        if options.plug_port is not None:
            plug = TapoPlugSimulator(
                host=options.host,
                port=options.plug_port,
                alias=options.plug_alias,
                mac=options.plug_mac,
                username=options.username,
                password=options.password,
                power_w=ACTIVE_W,
            )
            await plug.start()
            stack.push_async_callback(plug.stop)
            nas.plug = plug
            out.write(f"its plug {plug.url}  P110  {plug.mac}  {plug.alias}\n")
        wol_port = 0
        if options.wol_port is not None:
            wol_port = await nas.listen_for_wake_on_lan(options.wol_port)
            out.write(f"magic packets for {nas.mac} on udp {options.host}:{wol_port}\n")
        if options.push_url:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            nas.push = NasPushClient(session, options.push_url, options.secret)
            out.write(f"pushes to {options.push_url}\n")
        if options.control_port is not None:
            control = NasControl(nas, plug, wol_port)
            await control.start(options.host, options.control_port)
            stack.push_async_callback(control.stop)
            out.write(f"control http://{options.host}:{options.control_port}/\n")
        out.flush()
        await nas.run()
        while True:
            # The plug's energy counters grow in real time, as a plug's do.
            await asyncio.sleep(ENERGY_TICK)
            if plug is not None:
                plug.run_for(ENERGY_TICK)


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
    parser.add_argument("--mac", default="02:ba:10:00:00:01", help="the NAS's MAC")
    parser.add_argument(
        "--plug-port",
        type=int,
        help="also run the Tapo plug the NAS hangs on (linked) on this port",
    )
    parser.add_argument("--plug-alias", default="NAS plug")
    parser.add_argument("--plug-mac", default="48:22:54:00:00:01")
    parser.add_argument("--username", default="user@example.com", help="plug account")
    parser.add_argument("--password", default="tapo-secret", help="plug password")
    parser.add_argument(
        "--wol-port",
        type=int,
        help="listen for magic packets on this UDP port of --host (0: any free one)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        help="serve the control endpoints (sleep, shutdown, plug off...) on this port",
    )
    parser.add_argument(
        "--push-url",
        metavar="URL",
        help="BALUPI_URL: where the NAS pushes when it starts and shuts down",
    )
    parser.add_argument("--boot-time", type=float, default=3.0)
    parser.add_argument("--shutdown-time", type=float, default=5.0)
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
    options = ServeOptions(
        host=args.host,
        port=args.port,
        mac=args.mac,
        plug_port=args.plug_port,
        plug_alias=args.plug_alias,
        plug_mac=args.plug_mac,
        username=args.username,
        password=args.password,
        wol_port=args.wol_port,
        control_port=args.control_port,
        push_url=args.push_url,
        secret=args.secret,
        boot_time=args.boot_time,
        shutdown_time=args.shutdown_time,
    )
    if options.push_url and not options.secret:
        parser.error("--push-url needs --secret or $BALUPI_HANDSHAKE_SECRET")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(options))


if __name__ == "__main__":
    main()
