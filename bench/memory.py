"""Section "memory": resident memory of Home Assistant with BaluPi and 10 plugs.

Two Home Assistant processes start side by side in fresh temporary configuration
folders with the same minimal configuration (``bench.hass``): one alone, one with a
BaluPi entry for a simulated NAS and 10 simulated plugs, added through the real
config flows over REST (``scripts/dev_bootstrap.py``). Both are onboarded the same way. The simulators run
in a child process (``bench.farm``), so they add nothing to the measured memory.
After settling, VmRSS of each process is read from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
import time

import aiohttp

from .common import BenchError, Row, Section, Settings, mib, progress
from .farm import Farm, running_farm
from .hass import HomeAssistant, add_balupi, home_assistant, onboard

PLUGS = 10
SAMPLE_EVERY = 5.0
"""Seconds between two memory samples while settling."""
STABLE_SAMPLES = 6
"""Samples (30 s) whose spread decides that the memory is stable."""
STABLE_SPREAD_KIB = 1024
"""Spread of the last samples below which the memory counts as stable."""


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


async def _set_up(
    hass: HomeAssistant, session: aiohttp.ClientSession, farm: Farm | None
) -> None:
    """Onboard the owner and, with a farm, add BaluPi with the farm's plugs."""
    token = await onboard(hass, session)
    if farm is not None:
        await add_balupi(hass, session, token, farm)


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
