"""Section "flood": hostile pushes against a real Home Assistant (issue 11, item 4).

Four floods, each against a Home Assistant of its own (``bench.hass``) that got a
BaluPi entry through the real config flow (its NAS is not running: the flow saves it
anyway), each by a client that has no secret, all on loopback:

* **nested**: bodies of ``[`` x 100,000 (100 KB), 20 at a time, half to the fixed
  shutdown path and half to the entry's webhook, with well-formed signature headers
  (current timestamp, a made-up signature), so they pass every check that needs no
  body; at least 200, and more until 10 s have passed;
* **1 MiB unsigned**: rounds of 50 parallel 1 MiB JSON bodies (116,000 small objects
  each) without signature headers, as the issue measured them; at least 3 rounds,
  and more until 10 s have passed, so that the health figures have enough answers;
* **1 MiB forged**: the same bodies with well-formed signature headers, so that
  every body must be read and parsed before it can be refused;
* **200 held**: 200 connections that each announce 1 MiB (``Content-Length``) without
  signature headers, send all of it but the last byte, then hold the connection for
  15 s before closing it.

A fifth run without any flood shows how much VmRSS moves by itself over the same
time. Measured for each flood (once VmRSS has stayed within 1 MiB for 15 s after
setup): requests sent and how they were answered (4xx, 5xx, no
reply), how fast ``GET /api/health`` answered meanwhile (asked every 20 ms by a
separate process, so the client's own work does not count), and Home Assistant's
VmRSS right before, at its peak during, and 20 s after the flood's connections are
gone. Targets (issue 11): health p99 < 100 ms, RSS after within 20 MiB of before.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import http.client
import itertools
import json
from pathlib import Path
import sys
import time

import aiohttp

from simulators.server import free_port

from .common import BenchError, Row, Section, Settings, progress, python_env
from .hass import Api, HomeAssistant, home_assistant, onboard

HOST = "127.0.0.1"
OFFLINE_PATH = "/api/handshake/nas-going-offline"
FORGED = "0123456789abcdef" * 4
"""A well-formed signature that no secret made."""
SECRET = "flood-bench-handshake-secret-0123456789-abcdef"  # noqa: S105 -- throwaway
MIB = 1024 * 1024
NESTED_REQUESTS = 200
NESTED_AT_ONCE = 20
PARALLEL = 50
ROUNDS = 3
MIN_SECONDS = 10.0
"""Rounds of parallel bodies go on until this long has passed (at least ROUNDS)."""
HELD_CONNECTIONS = 200
HOLD = 15.0
"""Seconds each held connection stays open after sending its bytes."""
PROBE_EVERY = 0.02
SAMPLE_EVERY = 0.1
SETTLE = 20.0
"""Seconds after a flood (its connections closed) before "after" is read."""
QUIET = 15.0
"""Seconds VmRSS must stay within STABLE_KIB before a flood's "before" is read."""
STABLE_KIB = 1024
QUIET_LIMIT = 180.0
"""Seconds to wait at most for that calm; then "before" is read anyway."""
TARGET_P99 = 0.100
TARGET_RSS_KIB = 20 * 1024


@dataclass(slots=True)
class Outcome:
    """How one flood went."""

    name: str
    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    """By class: "4xx", "5xx", "2xx"; "closed" when the server closed the connection
    before an answer arrived, "none" when nothing came back in time."""
    statuses: Counter[int] = field(default_factory=Counter)
    health: list[float] = field(default_factory=list)
    health_failed: int = 0
    rss_before: int = 0
    rss_peak: int = 0
    rss_after: int = 0
    log_lines: int = 0
    tracebacks: int = 0
    took: float = 0.0

    def answered(self, status: int | None, *, closed: bool = False) -> None:
        """Count one request and its answer (None: no answer, or ``closed``)."""
        self.sent += 1
        if status is None:
            self.answers["closed" if closed else "none"] += 1
            return
        self.statuses[status] += 1
        self.answers[f"{status // 100}xx"] += 1


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "VmRSS":
            return int(value.split()[0])
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def forged_headers() -> dict[str, str]:
    """Headers that pass every check without the body; the signature is made up."""
    return {
        "Content-Type": "application/json",
        "X-Balupi-Timestamp": str(int(time.time())),
        "X-Balupi-Signature": FORGED,
    }


def mib_of_json() -> bytes:
    """About 1 MiB of JSON that is costly to parse: 116,000 small objects."""
    body = b"[" + b",".join([b'{"a": 1}'] * 116_000) + b"]"
    if len(body) > MIB:
        raise BenchError("the 1 MiB body came out larger than 1 MiB")
    return body


class Probe:
    """``GET /api/health`` every 20 ms from a separate process; VmRSS every 100 ms."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Probe ``hass``; nothing runs before :meth:`running`."""
        self._hass = hass
        self._process: asyncio.subprocess.Process | None = None
        self.health: list[tuple[float, float | None]] = []
        """(time.time() when sent, seconds to the answer or None on failure)."""
        self.rss: list[tuple[float, int]] = []
        self._tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Probe]:
        """Probe until the block ends."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.flood",
            "--probe",
            self._hass.base,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=python_env(),
        )
        self._tasks = [
            asyncio.create_task(self._read_health()),
            asyncio.create_task(self._sample_rss()),
        ]
        try:
            yield self
        finally:
            for task in self._tasks:
                task.cancel()
            self._process.terminate()
            await self._process.wait()

    async def _read_health(self) -> None:
        if self._process is None or self._process.stdout is None:
            raise BenchError("the health probe is not running")
        while line := await self._process.stdout.readline():
            sent, took = line.split()
            self.health.append((float(sent), None if took == b"-" else float(took)))

    async def _sample_rss(self) -> None:
        while True:
            self.rss.append((time.time(), _rss_kib(self._hass.pid)))
            await asyncio.sleep(SAMPLE_EVERY)

    async def calm(self) -> int:
        """VmRSS once it stayed within STABLE_KIB for QUIET seconds (or at the limit).

        A Home Assistant that just started still loads and allocates for a while;
        a flood's "before" must not include that.
        """
        started = time.time()
        while time.time() - started < QUIET_LIMIT:
            await asyncio.sleep(1.0)
            now = time.time()
            recent = [kib for at, kib in self.rss if at >= now - QUIET]
            if now - started >= QUIET and max(recent) - min(recent) <= STABLE_KIB:
                break
        return self.rss_now()

    def rss_now(self) -> int:
        """Home Assistant's VmRSS now, in KiB."""
        return _rss_kib(self._hass.pid)

    def window(self, outcome: Outcome, start: float, end: float) -> None:
        """Put the health answers and the RSS peak between start and end into it."""
        for sent, took in self.health:
            if start <= sent <= end:
                if took is None:
                    outcome.health_failed += 1
                else:
                    outcome.health.append(took)
        outcome.rss_peak = max(
            (kib for at, kib in self.rss if start <= at <= end), default=0
        )


async def _flood_nested(base: str, webhook: str, outcome: Outcome) -> None:
    body = b"[" * 100_000
    paths = itertools.cycle([OFFLINE_PATH, f"/api/webhook/{webhook}"])
    limit = asyncio.Semaphore(NESTED_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=120)
    started = time.monotonic()

    async def one(session: aiohttp.ClientSession) -> None:
        while (
            outcome.sent < NESTED_REQUESTS or time.monotonic() - started < MIN_SECONDS
        ):
            async with limit:
                path = next(paths)
                status, closed = await _post(session, base + path, body, True)
                outcome.answered(status, closed=closed)

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as session:
        await asyncio.gather(*(one(session) for _ in range(NESTED_AT_ONCE)))


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, signed: bool
) -> tuple[int | None, bool]:
    """The answer's status (None without one), and whether the server hung up."""
    headers = forged_headers() if signed else {"Content-Type": "application/json"}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status, False
    except TimeoutError:
        return None, False
    except (aiohttp.ClientError, OSError):
        return None, True


def _flood_parallel(signed: bool) -> Callable[[str, str, Outcome], Awaitable[None]]:
    async def flood(base: str, webhook: str, outcome: Outcome) -> None:
        body = mib_of_json()
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=timeout
        ) as session:
            started = time.monotonic()
            for round_ in itertools.count():
                if round_ >= ROUNDS and time.monotonic() - started >= MIN_SECONDS:
                    break
                statuses = await asyncio.gather(
                    *(
                        _post(session, base + OFFLINE_PATH, body, signed)
                        for _ in range(PARALLEL)
                    )
                )
                for status, closed in statuses:
                    outcome.answered(status, closed=closed)

    return flood


async def _no_flood(base: str, webhook: str, outcome: Outcome) -> None:
    """Nothing for as long as the held connections take: how much VmRSS drifts."""
    await asyncio.sleep(HOLD)


async def _flood_held(base: str, webhook: str, outcome: Outcome) -> None:
    port = int(base.rsplit(":", 1)[1])
    head = (
        f"POST {OFFLINE_PATH} HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MIB}\r\n\r\n"
    ).encode()
    payload = b"x" * (MIB - 1)
    writers: list[asyncio.StreamWriter] = []

    async def one() -> None:
        status: int | None = None
        closed = False
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            writers.append(writer)
            writer.write(head + payload)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HOLD):
                    await writer.drain()
                    line = await reader.readline()
                    if line.startswith(b"HTTP/"):
                        status = int(line.split()[1])
                    # Hold on until the hold is over, whatever the server does.
                    await asyncio.sleep(HOLD)
        except OSError:
            closed = status is None
        outcome.answered(status, closed=closed)

    try:
        await asyncio.gather(*(one() for _ in range(HELD_CONNECTIONS)))
    finally:
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


FLOODS: tuple[tuple[str, str, Callable[[str, str, Outcome], Awaitable[None]]], ...] = (
    (
        "no flood",
        f"Control: no request for {HOLD:g} s, to show how much VmRSS moves by itself",
        _no_flood,
    ),
    (
        "nested",
        f"Bodies of '[' x 100,000 (at least {NESTED_REQUESTS}, {MIN_SECONDS:g} s), "
        f"{NESTED_AT_ONCE} at a time, forged signature headers, half to the webhook",
        _flood_nested,
    ),
    (
        "1 MiB unsigned",
        f"Rounds of {PARALLEL} parallel 1 MiB JSON bodies (at least {ROUNDS}, "
        f"{MIN_SECONDS:g} s), no signature headers",
        _flood_parallel(signed=False),
    ),
    (
        "1 MiB forged",
        f"Rounds of {PARALLEL} parallel 1 MiB JSON bodies (at least {ROUNDS}, "
        f"{MIN_SECONDS:g} s), forged signature headers (each body must be read and "
        "parsed)",
        _flood_parallel(signed=True),
    ),
    (
        "200 held",
        f"{HELD_CONNECTIONS} connections announce 1 MiB without signature headers, "
        f"send all but the last byte, hold {HOLD:g} s",
        _flood_held,
    ),
)


async def _add_entry(api: Api) -> str:
    """Set BaluPi up through the config flow (NAS not running); its webhook ID."""
    flow = "/api/config/config_entries/flow"
    step = await api.post(flow, {"handler": "balupi"})
    step = await api.post(
        f"{flow}/{step['flow_id']}",
        {
            "nas_url": f"http://{HOST}:{free_port(HOST)}",
            "nas_mac": "02:ba:10:00:00:0f",
            "pi_ip": "192.168.178.20",
            "handshake_secret": SECRET,
        },
    )
    webhook = str(step["description_placeholders"]["webhook_going_offline"])
    for answer in ({"next_step_id": "finish"}, {}, {}, {}):
        step = await api.post(f"{flow}/{step['flow_id']}", answer)
        if step.get("errors"):
            raise BenchError(f"config flow refused {answer}: {step['errors']}")
    if step.get("type") != "create_entry":
        raise BenchError(f"config flow did not finish: {step}")
    return webhook


def _log_counts(hass: HomeAssistant) -> tuple[int, int]:
    """Lines and tracebacks in Home Assistant's log so far."""
    with contextlib.suppress(OSError):
        text = hass.log.read_text(errors="replace")
        return text.count("\n"), text.count("Traceback (most recent call last)")
    return 0, 0


async def run(settings: Settings) -> list[Row]:
    """Run each flood against a Home Assistant of its own."""
    rows: list[Row] = []
    for name, what, flood in FLOODS:
        outcome = await _run_flood(name, what, flood)
        rows.extend(_rows(outcome, what))
    return rows


async def _run_flood(
    name: str, what: str, flood: Callable[[str, str, Outcome], Awaitable[None]]
) -> Outcome:
    """Start Home Assistant with BaluPi, let it calm down, flood it, watch it."""
    outcome = Outcome(name)
    async with (
        home_assistant(f"HA + BaluPi, flood {name}") as hass,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        progress(f"flood: {name}: Home Assistant pid {hass.pid} on {hass.base}")
        api = Api(hass, session, await onboard(hass, session))
        webhook = await _add_entry(api)
        probe = Probe(hass)
        async with probe.running():
            outcome.rss_before = await probe.calm()
            lines, tracebacks = _log_counts(hass)
            progress(f"flood: {name}: {what}")
            start = time.time()
            await flood(hass.base, webhook, outcome)
            end = time.time()
            outcome.took = end - start
            probe.window(outcome, start, end)
            await asyncio.sleep(SETTLE)
            outcome.rss_after = probe.rss_now()
            after_lines, after_tracebacks = _log_counts(hass)
            outcome.log_lines = after_lines - lines
            outcome.tracebacks = after_tracebacks - tracebacks
        if not hass.alive():
            raise BenchError(f"Home Assistant died during the flood {name}")
    progress(f"flood: {name}: {_summary(outcome)}")
    return outcome


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _summary(outcome: Outcome) -> str:
    health = (
        f"health p50 {_percentile(outcome.health, 0.5) * 1000:.0f} ms, "
        f"p99 {_percentile(outcome.health, 0.99) * 1000:.0f} ms"
        if outcome.health
        else "no health answers"
    )
    return (
        f"{outcome.sent} sent, {dict(outcome.answers)}, {health}, RSS "
        f"{outcome.rss_before / 1024:.0f}/{outcome.rss_peak / 1024:.0f}/"
        f"{outcome.rss_after / 1024:.0f} MiB"
    )


def _rows(outcome: Outcome, what: str) -> list[Row]:
    name = outcome.name
    answers = ", ".join(
        f"{count} x {kind}" for kind, count in sorted(outcome.answers.items())
    )
    statuses = ", ".join(
        f"{status}: {count}" for status, count in sorted(outcome.statuses.items())
    )
    p99 = _percentile(outcome.health, 0.99) if outcome.health else float("inf")
    grew = outcome.rss_after - outcome.rss_before
    health = (
        f"{_percentile(outcome.health, 0.5) * 1000:.0f} / {p99 * 1000:.0f} / "
        f"{max(outcome.health) * 1000:.0f} ms"
        if outcome.health
        else "no answer"
    )
    return [
        Row(
            f"{name}: requests, answers",
            f"{outcome.sent}: {answers}",
            f"{what}. Statuses: {statuses or 'none'}. Took {outcome.took:.1f} s. "
            f"Log: {outcome.log_lines} lines, {outcome.tracebacks} tracebacks.",
        ),
        Row(
            f"{name}: /api/health p50 / p99 / max",
            health,
            f"{len(outcome.health)} answers while the flood ran"
            + (f", {outcome.health_failed} failed" if outcome.health_failed else "")
            + f". Target p99 < {TARGET_P99 * 1000:.0f} ms: "
            + ("met." if p99 < TARGET_P99 else "missed."),
        ),
        Row(
            f"{name}: VmRSS before / peak / after",
            f"{outcome.rss_before / 1024:.0f} / {outcome.rss_peak / 1024:.0f} / "
            f"{outcome.rss_after / 1024:.0f} MiB",
            f"After: {SETTLE:g} s after the last connection closed, "
            f"{grew / 1024:+.1f} MiB. Target: within "
            f"{TARGET_RSS_KIB / 1024:.0f} MiB: "
            + ("met." if abs(grew) <= TARGET_RSS_KIB else "missed."),
        ),
    ]


def _probe(base: str) -> None:
    """Ask ``base``/api/health every 20 ms; print "sent seconds" per answer."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    connection: http.client.HTTPConnection | None = None
    while True:
        sent = time.time()
        started = time.perf_counter()
        try:
            if connection is None:
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request("GET", "/api/health")
            response = connection.getresponse()
            json.loads(response.read())
            took = f"{time.perf_counter() - started:.6f}"
        except (OSError, http.client.HTTPException, ValueError):
            connection = None
            took = "-"
        sys.stdout.write(f"{sent:.3f} {took}\n")
        sys.stdout.flush()
        time.sleep(PROBE_EVERY)


SECTION = Section(
    name="flood",
    title="Floods of hostile pushes against a real Home Assistant",
    run=run,
    quick=False,
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", required=True)
    _probe(parser.parse_args().probe)
