"""Section "memory": resident memory of Home Assistant with BaluPi and 10 plugs.

Two Home Assistant processes start side by side in fresh temporary configuration
folders with the same minimal configuration (no ``default_config``: its discovery
would send traffic to the network): one alone, one with a BaluPi entry for a
simulated NAS and 10 simulated plugs, added through the real config flows over REST
(``scripts/dev_bootstrap.py``). Both are onboarded the same way. The simulators run
in a child process (``bench.farm``), so they add nothing to the measured memory.
After settling, VmRSS of each process is read from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import importlib
from pathlib import Path
import socket
import sys
import tempfile
import time
from typing import IO, Protocol, cast

import aiohttp

from .common import ROOT, BenchError, Row, Section, Settings, mib, progress, python_env
from .farm import Farm, running_farm

PLUGS = 10
HOST = "127.0.0.1"
START_TIMEOUT = 240.0
"""Seconds Home Assistant may take to answer after its start."""
STOP_TIMEOUT = 60.0
"""Seconds Home Assistant may take to stop before it is killed."""
SAMPLE_EVERY = 5.0
"""Seconds between two memory samples while settling."""
STABLE_SAMPLES = 6
"""Samples (30 s) whose spread decides that the memory is stable."""
STABLE_SPREAD_KIB = 1024
"""Spread of the last samples below which the memory counts as stable."""
USERNAME = "bench"
PASSWORD = "balupi-bench"  # noqa: S105 -- a throwaway login of a temporary instance
LOG_TAIL = 3000
"""Characters of Home Assistant's log shown when it fails."""

CONFIGURATION = """\
# Written by bench.memory: like config/configuration.yaml, on port {port}.
homeassistant:
  name: BaluPi benchmark
  latitude: 52.52
  longitude: 13.40
  elevation: 34
  unit_system: metric
  time_zone: Europe/Berlin
  currency: EUR
  country: DE

http:
  server_host: {host}
  server_port: {port}

frontend:
config:
history:
logbook:
energy:
recorder:
  purge_keep_days: 3

logger:
  default: warning
"""


class _Bootstrap(Protocol):
    """The part of scripts/dev_bootstrap.py that the benchmark uses."""

    BootstrapError: type[Exception]

    def prepare_onboarding(self, config_dir: Path) -> None: ...

    async def wait_for_home_assistant(
        self, session: aiohttp.ClientSession, base: str, timeout: float
    ) -> None: ...

    async def onboard(
        self, session: aiohttp.ClientSession, base: str, username: str, password: str
    ) -> str: ...

    async def add_balupi(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        user_input: dict[str, str],
        plugs: list[str],
    ) -> str: ...


def _bootstrap() -> _Bootstrap:
    """Import scripts/dev_bootstrap.py (scripts/ is no package)."""
    scripts = str(ROOT / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return cast("_Bootstrap", importlib.import_module("dev_bootstrap"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory of one Home Assistant process once it settled."""

    rss_kib: int
    """VmRSS at the end."""
    peak_kib: int
    """VmHWM: the highest VmRSS the process had."""
    settled_after: float
    """Seconds from ready (onboarded, BaluPi added) to the final sample."""
    stable: bool
    """Whether the last samples stayed within STABLE_SPREAD_KIB."""
    plugs_polled: int
    """Plugs that Home Assistant read while settling."""


def _status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, e.g. VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise BenchError(f"no {field} in /proc/{pid}/status")


class HomeAssistant:
    """One Home Assistant process in a temporary configuration folder."""

    def __init__(self, config_dir: Path, label: str) -> None:
        """Prepare a configuration on a free loopback port; nothing runs yet."""
        self.config_dir = config_dir
        self.label = label
        self.port = _free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = config_dir / "home-assistant.log"
        self.process: asyncio.subprocess.Process | None = None
        (config_dir / "configuration.yaml").write_text(
            CONFIGURATION.format(host=HOST, port=self.port)
        )

    @property
    def pid(self) -> int:
        """The process ID of Home Assistant."""
        if self.process is None:
            raise BenchError(f"{self.label}: Home Assistant is not running")
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process is not None and self.process.returncode is None

    def log_tail(self) -> str:
        """The end of Home Assistant's log (and console), for error messages."""
        text = ""
        for path in (self.log, self.config_dir / "console.log"):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")[-LOG_TAIL:]
        return text.strip() or "(no log)"

    async def start(self, console: IO[bytes]) -> None:
        """Start ``python -m homeassistant``; BaluPi is found through PYTHONPATH."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeassistant",
            "--config",
            str(self.config_dir),
            "--log-file",
            str(self.log),
            "--log-no-color",
            # Everything it needs is installed; never reach a package index.
            "--skip-pip",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=console,
            stderr=console,
            cwd=self.config_dir,
            env=python_env(),
        )

    async def stop(self) -> None:
        """Stop Home Assistant as a service manager would: SIGTERM, then SIGKILL."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def home_assistant(label: str) -> AsyncIterator[HomeAssistant]:
    """A running Home Assistant in a fresh temporary folder, stopped and removed after."""
    with (
        tempfile.TemporaryDirectory(prefix="balupi-bench-ha-") as folder,
        (Path(folder) / "console.log").open("wb") as console,
    ):
        hass = HomeAssistant(Path(folder), label)
        _bootstrap().prepare_onboarding(hass.config_dir)
        await hass.start(console)
        try:
            yield hass
        except BenchError as err:
            raise BenchError(f"{err}\n--- {label} log ---\n{hass.log_tail()}") from err
        finally:
            await hass.stop()


async def _set_up(
    hass: HomeAssistant, session: aiohttp.ClientSession, farm: Farm | None
) -> None:
    """Onboard the owner and, with a farm, add BaluPi with the farm's plugs."""
    bootstrap = _bootstrap()
    try:
        await bootstrap.wait_for_home_assistant(session, hass.base, START_TIMEOUT)
        token = await bootstrap.onboard(session, hass.base, USERNAME, PASSWORD)
        if farm is not None:
            done = await bootstrap.add_balupi(
                session,
                hass.base,
                token,
                {
                    "nas_url": farm.nas_url,
                    "nas_mac": "02:ba:10:00:00:01",
                    "pi_ip": HOST,
                },
                farm.plug_hosts(),
            )
            progress(f"memory: {hass.label}: BaluPi {done}")
    except (bootstrap.BootstrapError, aiohttp.ClientError) as err:
        raise BenchError(f"{hass.label}: setup failed: {err}") from err


async def _settle(hass: HomeAssistant, minimum: float, farm: Farm | None) -> Memory:
    """Sample VmRSS until ``minimum`` passed and the last samples are stable."""
    before = await farm.stats() if farm is not None else None
    start = time.monotonic()
    maximum = 2 * minimum
    samples: list[int] = []
    while True:
        await asyncio.sleep(SAMPLE_EVERY)
        if not hass.alive():
            raise BenchError(f"{hass.label}: Home Assistant exited while settling")
        samples.append(_status_kib(hass.pid, "VmRSS"))
        elapsed = time.monotonic() - start
        window = samples[-STABLE_SAMPLES:]
        stable = (
            len(window) == STABLE_SAMPLES
            and max(window) - min(window) <= STABLE_SPREAD_KIB
        )
        if elapsed >= maximum or (elapsed >= minimum and stable):
            break
    polled = 0
    if farm is not None and before is not None:
        after = await farm.stats()
        polled = sum(
            a > b for a, b in zip(after.requests, before.requests, strict=True)
        )
    progress(f"memory: {hass.label}: VmRSS {mib(samples[-1])} after {elapsed:.0f} s")
    return Memory(
        rss_kib=samples[-1],
        peak_kib=_status_kib(hass.pid, "VmHWM"),
        settled_after=elapsed,
        stable=stable,
        plugs_polled=polled,
    )


async def _measure(label: str, settle: float, farm: Farm | None) -> Memory:
    async with (
        home_assistant(label) as hass,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        progress(f"memory: {label}: Home Assistant pid {hass.pid} on {hass.base}")
        await _set_up(hass, session, farm)
        progress(f"memory: {label}: ready, settling for at least {settle:g} s")
        return await _settle(hass, settle, farm)


def _settled(memory: Memory) -> str:
    stable = "stable" if memory.stable else "still moving"
    return f"{memory.settled_after:.0f} s after setup ({stable})"


async def run(settings: Settings) -> list[Row]:
    """Measure Home Assistant alone and with BaluPi, side by side."""
    async with running_farm(PLUGS, latency=settings.latency, nas=True) as farm:
        alone, balupi = await asyncio.gather(
            _measure("HA alone", settings.settle, None),
            _measure(f"HA + BaluPi, {PLUGS} plugs", settings.settle, farm),
        )
    difference = balupi.rss_kib - alone.rss_kib
    return [
        Row(
            "Home Assistant alone: VmRSS",
            mib(alone.rss_kib),
            "Resident memory of `python -m homeassistant` with http, frontend, "
            "config, history, logbook, energy and recorder, onboarded, "
            f"{_settled(alone)}. Peak (VmHWM): {mib(alone.peak_kib)}.",
        ),
        Row(
            f"HA + BaluPi, {PLUGS} plugs: VmRSS",
            mib(balupi.rss_kib),
            f"The same with a BaluPi entry for the simulated NAS and {PLUGS} "
            f"simulated plugs, added through the config flows, {_settled(balupi)}; "
            f"{balupi.plugs_polled} of {PLUGS} plugs were polled meanwhile. "
            f"Peak (VmHWM): {mib(balupi.peak_kib)}.",
        ),
        Row(
            "BaluPi's share of VmRSS",
            f"{difference / 1024:+.1f} MiB ({difference / alone.rss_kib:+.1%})",
            f"With BaluPi minus alone: BaluPi, python-kasa and {PLUGS} plug "
            "coordinators with their entities. Both ran at the same time, "
            "each in a fresh configuration folder.",
        ),
    ]


SECTION = Section(
    name="memory",
    title=f"Memory: Home Assistant with BaluPi and {PLUGS} plugs vs. alone",
    run=run,
    quick=False,
)
