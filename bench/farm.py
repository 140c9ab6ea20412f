"""Simulated Tapo plugs (and a BaluHost NAS) in a process of their own.

On a real network the plugs are separate devices. Run in the measuring process, the
simulators' encryption and JSON work would share its event loop and show up as the
poller's cost, and in a measured Home Assistant they would add to its memory. So they
run here, in a child process that the benchmark drives over its stdin and stdout,
one JSON object per line:

* on start it prints ``{"plugs": [port, ...], "nas": port or null}``;
* ``{"op": "mode", "plug": i, "mode": "silent"}`` switches plug ``i`` (a
  ``simulators.tapo.PlugMode``) and answers ``{"ok": true}``;
* ``{"op": "stats"}`` answers ``{"requests": [...], "handshakes": [...]}`` per plug;
* ``{"op": "nas", "do": "shut_down"}`` (or ``sleep``, ``run``) switches the NAS, which
  hangs on the first plug (its plug reads what the NAS draws), and answers
  ``{"ok": true}``;
* ``{"op": "boot_time", "seconds": 10}`` sets how long the NAS boots after a magic
  packet; ``{"op": "wake_on_lan"}`` starts its Wake-on-LAN listener (once) and
  answers ``{"port": udp_port}``;
* ``{"op": "nas_times"}`` answers ``{"woken_at": t, "up_at": t, "wol_packets": n,
  "request_wakeups": n, "health_requests": n}``: when the last magic packet arrived
  and when the NAS last switched to up (``time.time()``, comparable with Home
  Assistant's timestamps; null if never), and how often a health request woke the
  sleeping NAS (the simulator's soft sleep ends on any request, as BaluHost's does);
* end of input stops every simulator and the process.

With a NAS, it starts up and running (plug 0 reads its full power).

With ``--vary``, every plug's readings move the way a real plug's do: each second its
power wobbles by up to ±4 % around what it was set to (the NAS still sets plug 0's)
and its voltage by up to ±2 V around 230 V, following fixed sine waves (so every run
reads the same), the current follows from both, and the energy counters grow with the
power in real time. Without it the readings stay as set and the counters stand still.

``python -m bench.farm --count 50 --latency 0.05`` runs one by hand.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import json
import logging
import math
import sys
import time
from typing import Any, Literal

from custom_components.balupi.plugs import PlugAddress
from simulators.baluhost import BaluHostSimulator
from simulators.tapo import PlugMode, TapoPlugSimulator

from .common import ROOT, TAPO_PASSWORD, TAPO_USERNAME, BenchError, python_env

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
"""Seconds the farm may take to start its simulators."""
REPLY_TIMEOUT = 30.0
"""Seconds the farm may take to answer a command."""
NAS_MAC = "02:ba:10:00:00:01"
"""The simulated NAS's MAC: BaluPi's entry must name it for Wake-on-LAN to reach it."""

VARY_TICK = 1.0
"""Seconds between two changes of the readings with ``--vary``."""
VARY_POWER = 0.04
"""Largest change of a plug's power with ``--vary``, as a share of its set power."""
VARY_VOLTS = 2.0
"""Largest change of a plug's voltage with ``--vary``, in volts."""

type NasAction = Literal["shut_down", "sleep", "run"]
"""What the farm can do to its NAS: ``BaluHostSimulator``'s methods of that name."""


def plug_mac(index: int) -> str:
    """The MAC of simulated plug ``index`` (plug 0 powers the NAS)."""
    number = index + 1
    return f"48:22:54:10:{number >> 8:02X}:{number & 0xFF:02X}"


@dataclass(frozen=True, slots=True)
class FarmStats:
    """What the simulated plugs have served so far, per plug."""

    requests: list[int]
    """Decrypted SMART requests (one HTTP exchange each, a batch counts once)."""
    handshakes: list[int]
    """KLAP handshakes (two HTTP exchanges each)."""


@dataclass(frozen=True, slots=True)
class NasTimes:
    """When things last happened to the simulated NAS, as ``time.time()``."""

    woken_at: float | None
    """When the last magic packet for its MAC arrived (its boot started)."""
    up_at: float | None
    """When it last switched to up: its health endpoint answers from here on."""
    wol_packets: int
    """Magic packets for its MAC that arrived so far."""
    request_wakeups: int = 0
    """Times a health request woke the sleeping NAS: BaluPi's doing, here."""
    health_requests: int = 0
    """Health requests that reached the NAS so far."""


class Farm:
    """The benchmark's side of a running farm process."""

    def __init__(
        self, process: asyncio.subprocess.Process, ports: list[int], nas: int | None
    ) -> None:
        """Drive ``process``, whose plugs listen on ``ports``."""
        self._process = process
        self.ports = ports
        self.nas_port = nas
        self._lock = asyncio.Lock()

    @property
    def nas_url(self) -> str:
        """Base URL of the simulated NAS."""
        if self.nas_port is None:
            raise BenchError("the farm was started without a NAS")
        return f"http://{HOST}:{self.nas_port}"

    def plug_hosts(self) -> list[str]:
        """Every plug as ``host:port``, as a user types it into BaluPi's flow."""
        return [f"{HOST}:{port}" for port in self.ports]

    def plug_address(self, index: int) -> PlugAddress:
        """How python-kasa reaches plug ``index``: KLAP v2 over HTTP on its port."""
        return PlugAddress(
            host=HOST,
            connection={
                "device_family": "SMART.TAPOPLUG",
                "encryption_type": "KLAP",
                "login_version": 2,
                "https": False,
                "http_port": self.ports[index],
            },
        )

    async def set_mode(self, index: int, mode: PlugMode) -> None:
        """Switch plug ``index`` online, refused or silent."""
        await self._command({"op": "mode", "plug": index, "mode": mode.value})

    async def stats(self) -> FarmStats:
        """Read the plugs' request and handshake counters."""
        reply = await self._command({"op": "stats"})
        return FarmStats(requests=reply["requests"], handshakes=reply["handshakes"])

    async def nas(self, action: NasAction) -> None:
        """Shut the NAS down, let it sleep, or run it (its plug follows)."""
        await self._command({"op": "nas", "do": action})

    async def set_boot_time(self, seconds: float) -> None:
        """Set the seconds the NAS takes from a magic packet to answering."""
        await self._command({"op": "boot_time", "seconds": seconds})

    async def listen_for_wake_on_lan(self) -> int:
        """Let the NAS listen for magic packets on loopback; return the UDP port."""
        reply = await self._command({"op": "wake_on_lan"})
        port: int = reply["port"]
        return port

    async def nas_times(self) -> NasTimes:
        """When the NAS last got a magic packet and last came up."""
        reply = await self._command({"op": "nas_times"})
        return NasTimes(
            reply["woken_at"],
            reply["up_at"],
            reply["wol_packets"],
            reply["request_wakeups"],
            reply["health_requests"],
        )

    async def _command(self, command: dict[str, Any]) -> dict[str, Any]:
        stdin = self._process.stdin
        if stdin is None:
            raise BenchError("the farm has no input pipe")
        async with self._lock:
            stdin.write(json.dumps(command).encode() + b"\n")
            await stdin.drain()
            reply = await _read_reply(self._process, REPLY_TIMEOUT)
        if "error" in reply:
            raise BenchError(f"farm: {reply['error']}")
        return reply


@contextlib.asynccontextmanager
async def running_farm(
    count: int, *, latency: float, nas: bool = False, vary: bool = False
) -> AsyncIterator[Farm]:
    """Start ``count`` simulated plugs (and a NAS) in a child process.

    With ``vary``, the plugs' readings change every second (see ``--vary``).
    """
    args = ["--count", str(count), "--latency", str(latency)]
    if vary:
        args.append("--vary")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.farm",
        *args,
        *(["--nas"] if nas else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=python_env(),
    )
    try:
        hello = await _read_reply(process, START_TIMEOUT)
        yield Farm(process, hello["plugs"], hello["nas"])
    finally:
        if process.stdin is not None:
            process.stdin.close()  # end of input: the farm stops its simulators
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _read_reply(
    process: asyncio.subprocess.Process, timeout: float
) -> dict[str, Any]:
    if process.stdout is None:
        raise BenchError("the farm has no output pipe")
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError as err:
        raise BenchError(f"the farm did not answer in {timeout:g} s") from err
    if not line:
        raise BenchError(f"the farm process ended (exit code {process.returncode})")
    reply: dict[str, Any] = json.loads(line)
    return reply


# -- the farm process ------------------------------------------------------------------


def _plug(index: int, latency: float) -> TapoPlugSimulator:
    number = index + 1
    plug = TapoPlugSimulator(
        host=HOST,
        alias=f"Bench plug {number}",
        mac=plug_mac(index),
        username=TAPO_USERNAME,
        password=TAPO_PASSWORD,
        power_w=5.0 + number % 40,
    )
    plug.latency = latency
    return plug


class _TimedNas(BaluHostSimulator):
    """The simulated NAS with the farm's own bookkeeping."""

    def __init__(self) -> None:
        super().__init__(HOST, mac=NAS_MAC)
        self.wol_port: int | None = None


def _answer(reply: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


async def _handle_nas(nas: _TimedNas, command: dict[str, Any]) -> None:
    op = command["op"]
    if op == "nas":
        actions = {"shut_down": nas.shut_down, "sleep": nas.sleep, "run": nas.run}
        await actions[command["do"]]()
        _answer({"ok": True})
    elif op == "boot_time":
        nas.boot_time = float(command["seconds"])
        _answer({"ok": True})
    elif op == "wake_on_lan":
        if nas.wol_port is None:
            nas.wol_port = await nas.listen_for_wake_on_lan()
        _answer({"port": nas.wol_port})
    else:  # nas_times
        _answer(
            {
                "woken_at": nas.woken_at,
                "up_at": nas.up_at,
                "wol_packets": nas.wol_packets,
                "request_wakeups": nas.request_wakeups,
                "health_requests": nas.health_requests,
            }
        )


async def _handle(
    plugs: list[TapoPlugSimulator], nas: _TimedNas | None, command: dict[str, Any]
) -> None:
    op = command.get("op")
    if op in {"nas", "boot_time", "wake_on_lan", "nas_times"}:
        if nas is None:
            _answer({"error": "the farm was started without a NAS"})
        else:
            await _handle_nas(nas, command)
    elif op == "stats":
        _answer(
            {
                "requests": [plug.requests for plug in plugs],
                "handshakes": [plug.handshakes for plug in plugs],
            }
        )
    elif op == "mode":
        await plugs[int(command["plug"])].set_offline(PlugMode(command["mode"]))
        _answer({"ok": True})
    else:
        _answer({"error": f"unknown command {command!r}"})


async def _vary(plugs: list[TapoPlugSimulator]) -> None:
    """Move every plug's readings each VARY_TICK, as ``--vary`` describes."""
    power = [plug.power_w for plug in plugs]  # as last set (by the farm or the NAS)
    volts = [plug.voltage_v for plug in plugs]
    written = list(power)
    last = time.monotonic()
    tick = 0
    while True:
        await asyncio.sleep(VARY_TICK)
        now = time.monotonic()
        tick += 1
        for index, plug in enumerate(plugs):
            if plug.power_w != written[index]:  # the NAS set a new power
                power[index] = plug.power_w
            plug.run_for(now - last)
            wobble = math.sin(0.9 * tick + index)
            plug.power_w = power[index] * (1 + VARY_POWER * wobble)
            plug.voltage_v = volts[index] + VARY_VOLTS * math.sin(0.37 * tick + index)
            written[index] = plug.power_w
        last = now


async def _serve(count: int, latency: float, with_nas: bool, vary: bool) -> None:
    plugs = [_plug(index, latency) for index in range(count)]
    nas = _TimedNas() if with_nas else None
    varying: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(commands), sys.stdin
    )
    try:
        for plug in plugs:
            await plug.start()
        if nas is not None:
            nas.plug = plugs[0] if plugs else None
            await nas.start()
            await nas.run()
        if vary:
            varying = asyncio.create_task(_vary(plugs))
        _answer(
            {
                "plugs": [plug.port for plug in plugs],
                "nas": nas.port if nas is not None else None,
            }
        )
        while line := await commands.readline():
            try:
                await _handle(plugs, nas, json.loads(line))
            except (ValueError, KeyError, IndexError, TypeError) as err:
                _answer({"error": f"{type(err).__name__}: {err}"})
    finally:
        if varying is not None:
            varying.cancel()
        for plug in plugs:
            await plug.stop()
        if nas is not None:
            await nas.stop()


def main() -> None:
    """Serve simulated plugs until the input ends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1, help="number of plugs")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before every answer"
    )
    parser.add_argument("--nas", action="store_true", help="also a BaluHost NAS")
    parser.add_argument(
        "--vary",
        action="store_true",
        help="change every plug's power and voltage each second, as real plugs do",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.count, args.latency, args.nas, args.vary))


if __name__ == "__main__":
    main()
