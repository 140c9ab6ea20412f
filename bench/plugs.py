"""Section "plugs": poll cycles over simulated Tapo plugs, through BaluPi's PlugClient.

BaluPi gives every plug its own coordinator, and each one calls
``PlugClient.read(address)`` on its own schedule, so the plugs are read concurrently.
A poll cycle here is exactly that for every plug at once: start every plug's read
together, stop when the last fresh reading is in. python-kasa runs for real,
retry pauses included; the plugs are KLAP v2 simulators in another process
(``bench.farm``) that wait ``latency`` before answering each HTTP request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
import time

from kasa import Credentials

from custom_components.balupi.plugs import (
    OPERATION_TIMEOUT,
    REQUEST_TIMEOUT,
    PlugAddress,
    PlugClient,
    PlugError,
)
from simulators.tapo import PlugMode

from .common import (
    TAPO_PASSWORD,
    TAPO_USERNAME,
    BenchError,
    Row,
    Section,
    Settings,
    duration,
    median,
    progress,
)
from .farm import Farm, FarmStats, running_farm

PLUG_COUNTS = (1, 10, 50)
"""How many plugs are polled together, side by side in one run."""
PAUSE = 0.2
"""Seconds between two cycles."""


@dataclass(frozen=True, slots=True)
class Cycle:
    """One poll cycle: when each plug's read ended, and how."""

    done: list[float]
    """Seconds from the start of the cycle until each plug's read returned."""
    errors: dict[int, str]
    """Plugs whose read failed, by index: the error's type and message."""
    cpu: float
    """CPU seconds the polling process spent in the cycle."""

    @property
    def duration(self) -> float:
        """Seconds until every plug's read had returned."""
        return max(self.done)

    def online_duration(self) -> float:
        """Seconds until the last plug that answered had its reading in."""
        return max(t for i, t in enumerate(self.done) if i not in self.errors)


async def poll_cycle(client: PlugClient, addresses: Sequence[PlugAddress]) -> Cycle:
    """Read every plug concurrently, as BaluPi's per-plug coordinators do."""

    async def read(address: PlugAddress) -> tuple[float, str | None]:
        try:
            await client.read(address)
        except PlugError as err:
            return time.perf_counter() - start, f"{type(err).__name__}: {err}"
        return time.perf_counter() - start, None

    cpu = time.process_time()
    start = time.perf_counter()
    results = await asyncio.gather(*(read(address) for address in addresses))
    cpu = time.process_time() - cpu
    return Cycle(
        done=[elapsed for elapsed, _ in results],
        errors={i: error for i, (_, error) in enumerate(results) if error is not None},
        cpu=cpu,
    )


@dataclass(frozen=True, slots=True)
class Scenario:
    """The measured cycles of one scenario and what the plugs served meanwhile."""

    cycles: list[Cycle]
    requests_per_read: float
    handshakes_per_read: float


def _served(
    before: FarmStats, after: FarmStats, plugs: Sequence[int]
) -> tuple[int, int]:
    requests = sum(after.requests[i] - before.requests[i] for i in plugs)
    handshakes = sum(after.handshakes[i] - before.handshakes[i] for i in plugs)
    return requests, handshakes


async def measure(
    farm: Farm,
    count: int,
    cycles: int,
    *,
    silent: int | None = None,
    label: str = "",
) -> Scenario:
    """Connect ``count`` plugs with a warm-up cycle, then measure ``cycles`` cycles.

    With ``silent``, that plug stops answering after the warm-up (it keeps accepting
    connections) and is switched back online at the end.
    """
    addresses = [farm.plug_address(i) for i in range(count)]
    client = PlugClient(Credentials(TAPO_USERNAME, TAPO_PASSWORD))
    try:
        warm_up = await poll_cycle(client, addresses)
        if warm_up.errors:
            raise BenchError(f"warm-up failed: {warm_up.errors}")
        progress(f"{label}: warm-up (connecting) {duration(warm_up.duration)}")
        if silent is not None:
            await farm.set_mode(silent, PlugMode.SILENT)
        before = await farm.stats()
        measured: list[Cycle] = []
        for number in range(1, cycles + 1):
            await asyncio.sleep(PAUSE)
            cycle = await poll_cycle(client, addresses)
            unexpected = {i: e for i, e in cycle.errors.items() if i != silent}
            if unexpected:
                raise BenchError(f"plugs failed: {unexpected}")
            measured.append(cycle)
            progress(f"{label}: cycle {number}/{cycles} {duration(cycle.duration)}")
        after = await farm.stats()
    finally:
        try:
            await client.close()
        finally:
            if silent is not None:
                await farm.set_mode(silent, PlugMode.ONLINE)
    online = [i for i in range(count) if i != silent]
    requests, handshakes = _served(before, after, online)
    reads = cycles * len(online)
    return Scenario(measured, requests / reads, handshakes / reads)


def _median_max(values: Sequence[float]) -> str:
    return f"{duration(median(values))} / {duration(max(values))}"


async def run(settings: Settings) -> list[Row]:
    """Measure the plug counts side by side, then 50 plugs with one silent."""
    counts = sorted(set(PLUG_COUNTS))
    most = counts[-1]
    latency = settings.latency
    rows: list[Row] = []
    async with running_farm(most, latency=latency) as farm:
        results = {}
        for count in counts:
            results[count] = await measure(
                farm,
                count,
                settings.cycles,
                label=f"{count} plug{'s' if count != 1 else ''}",
            )
        offline = await measure(
            farm,
            most,
            settings.cycles,
            silent=most - 1,
            label=f"{most} plugs, 1 silent",
        )

    first = results[counts[0]]
    one_plug = median([c.duration for c in first.cycles])
    for count, scenario in results.items():
        rows.extend(_count_rows(count, scenario, one_plug, latency, count == counts[0]))
    handshakes = (
        f" (+{first.handshakes_per_read:.1f} handshakes)"
        if first.handshakes_per_read
        else ""
    )
    rows.append(
        Row(
            "HTTP exchanges per read",
            f"{first.requests_per_read:.1f}{handshakes}",
            "SMART requests python-kasa sends per steady-state update of one plug "
            "(batches of up to 5 queries, sent one after the other).",
        )
    )
    rows.extend(_offline_rows(offline, results[most], most))
    return rows


def _count_rows(
    count: int, scenario: Scenario, one_plug: float, latency: float, explain: bool
) -> list[Row]:
    """The rows of one plug count; only the first one explains them in full."""
    cycles = [c.duration for c in scenario.cycles]
    typical = median(cycles)
    plugs = "plug" if count == 1 else "plugs"
    floor = scenario.requests_per_read
    rows = [
        Row(
            f"{count} {plugs}: poll cycle, median / max",
            _median_max(cycles),
            f"From starting every plug's PlugClient.read at once until the last "
            f"reading is in; {len(cycles)} cycles after a warm-up cycle that "
            f"connected the plugs (steady state)."
            if explain
            else "As above.",
        ),
        Row(
            f"{count} {plugs}: cycle / device latency",
            f"{typical / latency:.2f}x",
            f"Median cycle / the {duration(latency)} each simulated plug waits "
            f"before every HTTP answer. A read is {floor:.1f} HTTP exchanges in a "
            f"row, so one plug alone needs at least {floor:.1f}x."
            if explain
            else "As above.",
        ),
    ]
    if not explain:
        rows.append(
            Row(
                f"{count} plugs: cycle / one-plug cycle",
                f"{typical / one_plug:.2f}x",
                f"Median cycle / median one-plug cycle ({duration(one_plug)}): "
                f"the cost of polling {count} plugs together instead of one. "
                f"Target: <= 1.5x at 50 plugs.",
            )
        )
    rows.append(
        Row(
            f"{count} {plugs}: CPU per cycle, median",
            duration(median([c.cpu for c in scenario.cycles])),
            "CPU time of the polling process (PlugClient, python-kasa, KLAP "
            "encryption) in one cycle; the plugs run in another process."
            if explain
            else "As above.",
        )
    )
    return rows


def _offline_rows(offline: Scenario, online: Scenario, count: int) -> list[Row]:
    silent = count - 1
    others = [c.online_duration() for c in offline.cycles]
    all_online = median([c.duration for c in online.cycles])
    first, *later = offline.cycles
    rows = [
        Row(
            f"{count} plugs, 1 silent: {count - 1} online done, median / max",
            _median_max(others),
            f"From starting all {count} reads until the last of the {count - 1} "
            f"online plugs' readings is in, while one plug accepts connections and "
            f"never answers (PlugMode.SILENT); {len(others)} cycles.",
        ),
        Row(
            f"{count} plugs, 1 silent: online / all-online cycle",
            f"{median(others) / all_online:.2f}x",
            f"Median of the above / median {count}-plug cycle with every plug "
            f"online ({duration(all_online)}). Target: 1.0x, the silent plug adds "
            f"nothing to the others.",
        ),
        Row(
            "Silent plug, still connected: read gives up after",
            duration(first.done[silent]),
            f"Its first read after falling silent, on the connection it had, until "
            f"PlugClient.read raised {_error(first, silent)}. PlugClient bounds a "
            f"read to {OPERATION_TIMEOUT:g} s (OPERATION_TIMEOUT); python-kasa's "
            f"request timeout is {REQUEST_TIMEOUT} s.",
        ),
    ]
    if later:
        errors = " / ".join(sorted({_error(c, silent) for c in later}))
        rows.append(
            Row(
                "Silent plug, reconnecting: read gives up after, median / max",
                _median_max([c.done[silent] for c in later]),
                f"Its later reads ({len(later)}), which connect afresh (the failed "
                f"connection was dropped), until PlugClient.read raised {errors}. "
                f"aiohttp rounds python-kasa's {REQUEST_TIMEOUT} s request timeout "
                f"up to the next whole second.",
            )
        )
    return rows


def _error(cycle: Cycle, plug: int) -> str:
    return cycle.errors.get(plug, "nothing (it answered)")


SECTION = Section(
    name="plugs",
    title="Tapo plug polling: PlugClient over python-kasa, simulated KLAP v2 plugs",
    run=run,
)
