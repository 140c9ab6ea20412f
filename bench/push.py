"""Section "push": how fast a real Home Assistant answers the NAS's pushes.

One Home Assistant (``bench.hass``) gets a BaluPi entry, set up through the real
config flow over REST, for a simulated NAS and a simulated Pi-hole v6, each in a
process of its own (``python -m simulators.baluhost`` / ``simulators.pihole``). A
client that behaves exactly like the BaluHost NAS (``simulators.nas_push``: signs the
canonical body, sends httpx 0.27's own serialisation) then alternates the two pushes:

* shutdown with a 5 KB snapshot: BaluPi keeps the snapshot, moves the NAS
  online → shutting_down (it stays there until it powers off or the next push) and
  points baluhost.local at the Pi in Pi-hole;
* startup without a body: the NAS goes online and baluhost.local back to the NAS.

Then, with the inbox set up against a real ``sshd`` on loopback (when installed), one
startup push arrives while 100 x 1 MiB wait in the Pi's inbox: the NAS must have its
reply within its 4 s budget, and the flush carries on after it.

Measured: from sending each push until its reply is read, on this machine's loopback.
Every reply is checked to be acknowledged with the DNS switched. The NAS signs with
whole seconds and BaluPi accepts each signature once, so the startup pushes (always
the same empty body) carry timestamps one second apart inside the ±60 s window, as
a NAS restarting once a second would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass
import itertools
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

import aiohttp

from custom_components.balupi.inbox import rsync_available
from simulators.nas_push import NasPushClient, wire_body
from simulators.server import free_port
from simulators.snapshot import snapshot_of_size
from simulators.sshd import SshServer, sshd_available

from .common import BenchError, Row, Section, Settings, progress, python_env
from .hass import Api, home_assistant, onboard

HOST = "127.0.0.1"
CYCLES = 100
"""Shutdown + startup pairs; the startup timestamps need one second each (< 118)."""
SNAPSHOT_BYTES = 5000
SECRET = "bench-handshake-secret-0123456789-abcdefghij"  # noqa: S105 -- throwaway
PIHOLE_PASSWORD = "bench-pihole"  # noqa: S105 -- throwaway
NAS_MAC = "02:ba:10:00:00:02"
TARGET_P99 = 0.100
INBOX_FILES = 600
"""Files of 1 MiB waiting in the inbox for the large-inbox startup push: more than
loopback SSH moves in BaluPi's 3 s (a Pi 3B+ on 100 Mbit/s Ethernet moves about 30)."""
REPLY_BUDGET = 4.0
"""Seconds the startup push's reply may take (BaluHost gives up after 5 s)."""


@contextlib.asynccontextmanager
async def _simulator(module: str, port: int, *args: str) -> AsyncIterator[str]:
    """Run ``python -m simulators.<module>`` on ``port`` until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"simulators.{module}",
        "--port",
        str(port),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=python_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                if time.monotonic() > deadline or process.returncode is not None:
                    raise BenchError(f"the {module} simulator did not start") from None
                await asyncio.sleep(0.1)
            else:
                writer.close()
                break
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        await process.wait()


async def _add_entry(
    api: Api, nas_url: str, pihole_url: str, inbox: Inbox | None
) -> None:
    """Walk the config flow: NAS with our secret, no plugs, the Pi-hole, the inbox."""
    flow = "/api/config/config_entries/flow"
    step = await api.post(flow, {"handler": "balupi"})
    answers = [
        {
            "nas_url": nas_url,
            "nas_mac": NAS_MAC,
            "pi_ip": "192.168.178.20",
            "handshake_secret": SECRET,
        },
        {},
        {},
        {"pihole_url": pihole_url, "pihole_password": PIHOLE_PASSWORD},
    ]
    for answer in answers:
        step = await api.post(f"{flow}/{step['flow_id']}", answer)
        if step.get("errors"):
            raise BenchError(f"config flow refused {answer}: {step['errors']}")
    last: dict[str, object] = {}
    if inbox is not None:
        inbox.server.authorize(step["description_placeholders"]["public_key"])
        last = {
            "inbox_folder": str(inbox.pi),
            "nas_inbox_path": str(inbox.nas),
            "ssh_user": inbox.server.user,
            "ssh_port": inbox.server.port,
        }
    step = await api.post(f"{flow}/{step['flow_id']}", last)
    if step.get("type") != "create_entry":
        raise BenchError(f"config flow did not finish: {step}")


@dataclass(frozen=True, slots=True)
class Inbox:
    """The Pi's inbox and the NAS's, over a real sshd on loopback."""

    server: SshServer
    pi: Path
    nas: Path


@contextlib.asynccontextmanager
async def _inbox() -> AsyncIterator[Inbox | None]:
    if not (rsync_available() and sshd_available()):
        progress("push: no sshd or rsync here; the inbox row is left out")
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="balupi-bench-inbox-") as folder:
        root = Path(folder)
        server = SshServer(root / "sshd")
        await server.start()
        try:
            (root / "pi").mkdir()
            (root / "nas").mkdir()
            yield Inbox(server, root / "pi", root / "nas")
        finally:
            server.stop()


async def _large_inbox(
    base: str, inbox: Inbox, seconds: Iterator[float]
) -> tuple[float, float, str]:
    """Seconds to the startup push's reply and to the last file on the NAS; the reply.

    The reply's word on the flush: ``running``, or how many files it sent.
    """
    for index in range(INBOX_FILES):
        (inbox.pi / f"scan-{index:03d}.pdf").write_bytes(os.urandom(1024 * 1024))
    async with aiohttp.ClientSession() as session:
        nas = NasPushClient(session, base, SECRET, clock=lambda: next(seconds))
        if not (await nas.going_offline(snapshot_of_size(SNAPSHOT_BYTES))).ok:
            raise BenchError("shutdown push before the large inbox failed")
        started = time.perf_counter()
        reply = await nas.coming_online()
        replied = time.perf_counter() - started
    if not reply.ok:
        raise BenchError(f"startup push with a large inbox: {reply}")
    deadline = time.monotonic() + 120
    while len(list(inbox.nas.iterdir())) < INBOX_FILES:
        if time.monotonic() > deadline:
            raise BenchError("the inbox did not reach the NAS within 120 s")
        await asyncio.sleep(0.05)
    said = reply.body or {}
    flush = str(
        said.get("inbox_flush") or f"{said.get('files_transferred')} files sent"
    )
    return replied, time.perf_counter() - started, flush


def _clock() -> Iterator[float]:
    """Whole seconds from a minute ago, one per startup push."""
    start = int(time.time()) - 59
    return (float(start + n) for n in itertools.count())


async def _measure(
    base: str, seconds: Iterator[float]
) -> tuple[list[float], list[float]]:
    offline: list[float] = []
    online: list[float] = []
    async with aiohttp.ClientSession() as session:
        nas = NasPushClient(session, base, SECRET)
        startup = NasPushClient(session, base, SECRET, clock=lambda: next(seconds))
        for cycle in range(CYCLES + 1):
            snapshot = snapshot_of_size(SNAPSHOT_BYTES)
            started = time.perf_counter()
            reply = await nas.going_offline(snapshot)
            took_offline = time.perf_counter() - started
            if reply.body != {"acknowledged": True, "dns_switched": True}:
                raise BenchError(f"shutdown push {cycle}: {reply}")
            started = time.perf_counter()
            reply = await startup.coming_online()
            took_online = time.perf_counter() - started
            if not reply.ok or not reply.body or not reply.body["dns_switched"]:
                raise BenchError(f"startup push {cycle}: {reply}")
            if cycle:  # the first pair warms up connections and sessions
                offline.append(took_offline)
                online.append(took_online)
    return offline, online


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def run(settings: Settings) -> list[Row]:
    """Measure push → reply latency against a real Home Assistant."""
    large: tuple[float, float, str] | None = None
    async with (
        _simulator("baluhost", free_port(HOST)) as nas_url,
        _simulator("pihole", free_port(HOST), "--password", PIHOLE_PASSWORD) as pihole,
        _inbox() as inbox,
        home_assistant("HA + BaluPi, pushes") as hass,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        progress(f"push: Home Assistant pid {hass.pid} on {hass.base}")
        api = Api(hass, session, await onboard(hass, session))
        await _add_entry(api, nas_url, pihole, inbox)
        progress(f"push: BaluPi set up with the Pi-hole at {pihole}; pushing")
        seconds = _clock()
        offline, online = await _measure(hass.base, seconds)
        if inbox is not None:
            large = await _large_inbox(hass.base, inbox, seconds)
    size = len(wire_body(snapshot_of_size(SNAPSHOT_BYTES)))
    p99 = _percentile(offline, 0.99)
    rows = [
        Row(
            "Shutdown push → reply, p50 / p99",
            f"{_ms(statistics.median(offline))} / {_ms(p99)}",
            f"{CYCLES} pushes of a {size / 1000:.1f} KB snapshot, each acknowledged "
            "with dns_switched true: signature checked, snapshot stored, state moved "
            "to shutting_down, baluhost.local moved in the Pi-hole simulator (a process of its "
            f"own) before the reply. Target p99 ≤ {_ms(TARGET_P99)}: "
            f"{'met' if p99 <= TARGET_P99 else 'missed'}.",
        ),
        Row(
            "Startup push → reply, p50 / p99",
            f"{_ms(statistics.median(online))} / {_ms(_percentile(online, 0.99))}",
            f"{CYCLES} empty pushes, each moving the NAS online and baluhost.local "
            "back to the NAS (the inbox empty).",
        ),
    ]
    if large is not None:
        replied, flushed, said = large
        rows.append(
            Row(
                f"Startup push, {INBOX_FILES} x 1 MiB in the inbox → reply",
                f"{replied:.2f} s (all on the NAS after {flushed:.1f} s)",
                "The flush runs over SSH to a real sshd on loopback; the reply waits "
                f"for it at most BaluPi's 3 s. The reply said: inbox_flush {said}. "
                f"Target: reply within {REPLY_BUDGET:g} s: "
                f"{'met' if replied <= REPLY_BUDGET else 'missed'}.",
            )
        )
    return rows


SECTION = Section(
    name="push",
    title="Handshake: the NAS's pushes answered by a real Home Assistant",
    run=run,
    quick=False,
)
