"""Section "nas": how fast a real Home Assistant sees the NAS go off and come back.

One Home Assistant (``bench.hass``) gets a BaluPi entry for the simulated NAS and the
plug it hangs on (``bench.farm``: the plug reads what the NAS draws), with the plugs
read every 10 s, the heartbeat every 30 s (5 s while booting) and magic packets sent
to the NAS's Wake-on-LAN listener on loopback, all set through the options flow over
REST. Everything runs in real time; the states are followed over the websocket API,
with Home Assistant's own ``last_changed`` timestamps, and the farm says when the NAS
received its magic packet and when it came up (``time.time()`` on both sides).

* Power-off: the NAS runs and BaluPi says ``online``; a fixed time after a plug poll
  (spread over one poll interval), the NAS is switched off: its plug drops to 0.5 W
  and its API falls silent. Measured: until ``sensor.baluhost_nas_state`` reads
  ``offline``.
* Sleep: the same, but the NAS falls into BaluHost's soft sleep (8 W; a health request
  would wake it, and the simulated NAS counts such wake-ups). Measured: until the state
  reads ``offline``, and the wake-ups BaluPi caused over the whole section (the
  heartbeat runs all along, every 30 s).
* Wake-up: the NAS sleeps (8 W; a health request would wake it) and BaluPi says
  ``offline``; *Wake up* is pressed over REST. The NAS boots for a while after the
  magic packet, then answers. Measured: press to packet, and the NAS answering to the
  state reading ``online``.

Between two runs the benchmark asks Home Assistant to read the plug (and ask the NAS)
at once (``homeassistant.update_entity``) instead of waiting out the intervals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
import time
from typing import Any

import aiohttp

from custom_components.balupi.const import (
    CONF_FAST_HEARTBEAT_INTERVAL,
    CONF_HEARTBEAT_FAILURES,
    CONF_HEARTBEAT_INTERVAL,
    CONF_NAS_PLUG,
    CONF_PLUG_POLL_INTERVAL,
    CONF_WOL_BROADCAST,
    CONF_WOL_PORT,
    DEFAULT_OPTIONS,
    HEALTH_TIMEOUT,
)

from .common import BenchError, Row, Section, Settings, duration, median, progress
from .farm import Farm, plug_mac, running_farm
from .hass import Api, HomeAssistant, StateWatch, add_balupi, home_assistant, onboard

PLUG_POLL = 10
"""Seconds between two plug readings: the option's minimum."""
HEARTBEAT = 30
"""Seconds between two health checks (the default)."""
FAST_HEARTBEAT = 5
"""Seconds between two health checks while the NAS boots (the default)."""
FAILURES = 3
"""Failed health checks in a row before the heartbeat alone says offline."""
RUNS = 3
"""Measured runs per scenario."""
BOOT_TIMES = (10.0, 11.7, 13.3)
"""Seconds the NAS boots in each wake-up run: spread over one fast heartbeat, so the
moment it comes up falls at a different point between two health checks each time."""

STATE = "sensor.baluhost_nas_state"
POWER_STATE = "sensor.baluhost_nas_power_state"
REACHABLE = "binary_sensor.baluhost_nas_reachable"
WAKE = "button.baluhost_nas_wake_up"
PLUG_POWER = "sensor.bench_plug_1_power"
"""The NAS plug's power sensor: updating it reads the plug at once."""

READY_TIMEOUT = 60.0
"""Seconds Home Assistant may take to see the NAS in the state a run starts from."""
DETECT_TIMEOUT = 150.0
"""Seconds a run waits for the state it measures (longer than the heartbeat path)."""


@dataclass(frozen=True, slots=True)
class WakeRun:
    """One wake-up, as seconds between its moments."""

    packet: float
    """From pressing *Wake up* to the magic packet arriving at the NAS."""
    booting: float
    """From pressing to the state reading ``booting``."""
    online_after_up: float
    """From the NAS answering (switched to up) to the state reading ``online``."""
    online: float
    """From pressing to the state reading ``online`` (the boot time included)."""


def _options(wol_port: int) -> dict[str, Any]:
    """Every option of the options flow; the NAS plug is chosen separately."""
    options: dict[str, Any] = {
        key: value for key, value in DEFAULT_OPTIONS.items() if key != CONF_NAS_PLUG
    }
    options.update(
        {
            CONF_PLUG_POLL_INTERVAL: PLUG_POLL,
            CONF_HEARTBEAT_INTERVAL: HEARTBEAT,
            CONF_FAST_HEARTBEAT_INTERVAL: FAST_HEARTBEAT,
            CONF_HEARTBEAT_FAILURES: FAILURES,
            CONF_WOL_BROADCAST: "127.0.0.1",
            CONF_WOL_PORT: wol_port,
        }
    )
    return options


async def _set_up(
    hass: HomeAssistant, session: aiohttp.ClientSession, farm: Farm
) -> tuple[Api, str]:
    """Onboard, add BaluPi for the NAS and its plug; return the API and entry ID."""
    token = await onboard(hass, session)
    await add_balupi(hass, session, token, farm)
    api = Api(hass, session, token)
    return api, await api.entry_id("balupi")


async def _next_plug_poll(farm: Farm) -> float:
    """Wait until Home Assistant reads the NAS plug; return when (``time.time()``)."""
    before = (await farm.stats()).requests[0]
    deadline = time.monotonic() + 3 * PLUG_POLL
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if (await farm.stats()).requests[0] > before:
            return time.time()
    raise BenchError(f"Home Assistant did not read the NAS plug in {3 * PLUG_POLL} s")


async def _online(api: Api, watch: StateWatch, farm: Farm) -> None:
    """Run the NAS and let Home Assistant see it online, without waiting intervals."""
    await farm.nas("run")
    await api.update_entity(PLUG_POWER)
    await watch.wait_for(POWER_STATE, "active", timeout=READY_TIMEOUT)
    current = watch.current(STATE)
    if current is None or current.state != "online":
        started = time.time()
        await api.update_entity(REACHABLE)
        await watch.wait_for(STATE, "online", after=started, timeout=READY_TIMEOUT)


async def _asleep(api: Api, watch: StateWatch, farm: Farm) -> None:
    """Let the NAS sleep and Home Assistant see it offline on standby power."""
    await farm.nas("sleep")
    await api.update_entity(PLUG_POWER)
    await watch.wait_for(POWER_STATE, "standby", timeout=READY_TIMEOUT)
    await watch.wait_for(STATE, "offline", timeout=READY_TIMEOUT)


async def _power_off_runs(api: Api, watch: StateWatch, farm: Farm) -> list[float]:
    """Switch the running NAS off RUNS times; seconds until the state reads offline."""
    found = []
    for run in range(RUNS):
        await _online(api, watch, farm)
        # Switch off at a known point of the plug's poll interval, a different one
        # each run, so the runs together cover one whole interval.
        offset = (run + 0.5) / RUNS * PLUG_POLL
        polled = await _next_plug_poll(farm)
        await asyncio.sleep(max(0.0, polled + offset - time.time()))
        switched_off = time.time()
        await farm.nas("shut_down")
        seen = await watch.wait_for(
            STATE, "offline", after=switched_off, timeout=DETECT_TIMEOUT
        )
        took = seen.changed_at - switched_off
        progress(
            f"nas: power-off run {run + 1}/{RUNS}: switched off {offset:.1f} s after "
            f"a plug poll, offline after {took:.2f} s"
        )
        found.append(took)
    return found


async def _sleep_runs(api: Api, watch: StateWatch, farm: Farm) -> list[float]:
    """Let the running NAS fall asleep RUNS times; seconds until the state reads offline.

    A health check sent meanwhile would wake it: the farm counts those wake-ups.
    """
    found = []
    for run in range(RUNS):
        await _online(api, watch, farm)
        offset = (run + 0.5) / RUNS * PLUG_POLL
        polled = await _next_plug_poll(farm)
        await asyncio.sleep(max(0.0, polled + offset - time.time()))
        asleep = time.time()
        await farm.nas("sleep")
        seen = await watch.wait_for(
            STATE, "offline", after=asleep, timeout=DETECT_TIMEOUT
        )
        took = seen.changed_at - asleep
        # Asleep for a whole heartbeat interval at least: no health check may come.
        await asyncio.sleep(max(0.0, asleep + HEARTBEAT + PLUG_POLL - time.time()))
        times = await farm.nas_times()
        progress(
            f"nas: sleep run {run + 1}/{RUNS}: asleep {offset:.1f} s after a plug "
            f"poll, offline after {took:.2f} s; woken by BaluPi so far: "
            f"{times.request_wakeups}"
        )
        found.append(took)
    return found


async def _wake_runs(api: Api, watch: StateWatch, farm: Farm) -> list[WakeRun]:
    """Wake the sleeping NAS RUNS times, with different boot times."""
    found = []
    for run, boot_time in enumerate(BOOT_TIMES[:RUNS]):
        await _asleep(api, watch, farm)
        await farm.set_boot_time(boot_time)
        before = await farm.nas_times()
        pressed = time.time()
        await api.press(WAKE)
        booting = await watch.wait_for(
            STATE, "booting", after=pressed, timeout=READY_TIMEOUT
        )
        online = await watch.wait_for(
            STATE, "online", after=pressed, timeout=boot_time + DETECT_TIMEOUT
        )
        times = await farm.nas_times()
        if (
            times.wol_packets <= before.wol_packets
            or times.woken_at is None
            or times.up_at is None
            or times.up_at < pressed
        ):
            raise BenchError(f"the NAS was not woken by a magic packet: {times}")
        result = WakeRun(
            packet=times.woken_at - pressed,
            booting=booting.changed_at - pressed,
            online_after_up=online.changed_at - times.up_at,
            online=online.changed_at - pressed,
        )
        progress(
            f"nas: wake-up run {run + 1}/{RUNS} (boot {boot_time:g} s): packet after "
            f"{duration(result.packet)}, online {duration(result.online_after_up)} "
            "after the NAS answered"
        )
        found.append(result)
    return found


def _per_day(count: int, seconds: float) -> str:
    return f"{count * 86400 / seconds:.0f} per day" if seconds > 0 else "n/a"


def _spread(values: Sequence[float]) -> str:
    return f"{duration(median(values))}, max {duration(max(values))}"


def _each(values: Sequence[float]) -> str:
    return ", ".join(duration(value) for value in values)


def _heartbeat_bound() -> tuple[float, float]:
    """Seconds the heartbeat alone needs to call a silent NAS offline, at least/most.

    The coordinator schedules the next check an interval after the previous one
    ended, and every check of a silent NAS runs into its timeout; the first check
    comes up to one interval after the switch-off.
    """
    cycle = HEARTBEAT + HEALTH_TIMEOUT
    least = (FAILURES - 1) * cycle + HEALTH_TIMEOUT
    return least, least + HEARTBEAT


async def run(settings: Settings) -> list[Row]:
    """Measure power-off detection and wake-up against a real Home Assistant."""
    async with running_farm(1, latency=settings.latency, nas=True) as farm:
        wol_port = await farm.listen_for_wake_on_lan()
        async with (
            home_assistant("HA + BaluPi, NAS", balupi_log_level="info") as hass,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        ):
            progress(f"nas: Home Assistant pid {hass.pid} on {hass.base}")
            api, entry_id = await _set_up(hass, session, farm)
            async with StateWatch(api).opened() as watch:
                changed = time.time()
                await api.set_options(
                    entry_id, _options(wol_port), nas_plug=plug_mac(0)
                )
                # The entry reloads with the new options.
                await watch.wait_for(
                    STATE, "online", after=changed, timeout=READY_TIMEOUT
                )
                if watch.current(PLUG_POWER) is None:
                    raise BenchError(f"no {PLUG_POWER} in Home Assistant")
                progress(
                    f"nas: options set (plugs every {PLUG_POLL} s, Wake-on-LAN to "
                    f"127.0.0.1:{wol_port}); NAS online"
                )
                started = time.time()
                power_off = await _power_off_runs(api, watch, farm)
                sleeps = await _sleep_runs(api, watch, farm)
                wakes = await _wake_runs(api, watch, farm)
                ended = time.time()
                nas_times = await farm.nas_times()
    least, most = _heartbeat_bound()
    packets = [w.packet for w in wakes]
    after_up = [w.online_after_up for w in wakes]
    totals = [w.online for w in wakes]
    boots = ", ".join(f"{b:g}" for b in BOOT_TIMES[:RUNS])
    return [
        Row(
            "NAS switched off → state offline (median)",
            _spread(power_off),
            f"{RUNS} runs ({_each(power_off)}): the NAS running and online, then "
            "its plug drops to 0.5 W and its API falls silent, at "
            f"{', '.join(f'{(r + 0.5) / RUNS * PLUG_POLL:.1f}' for r in range(RUNS))} s "
            "after a plug poll. Until sensor.baluhost_nas_state reads offline "
            f"(Home Assistant's last_changed). Target: within one plug poll "
            f"({PLUG_POLL} s).",
        ),
        Row(
            "Plug poll interval",
            f"{PLUG_POLL} s",
            "Configured (the option's minimum): the plug's next reading says off.",
        ),
        Row(
            "Heartbeat alone would need",
            f"{least:.0f} to {most:.0f} s",
            f"Configured bound, not measured: {FAILURES} failed health checks in a "
            f"row, each {HEARTBEAT} s after the previous one ended and each waiting "
            f"out its {HEALTH_TIMEOUT:g} s timeout (a silent NAS), the first 0 to "
            f"{HEARTBEAT} s after the switch-off.",
        ),
        Row(
            "NAS falls asleep → state offline (median)",
            _spread(sleeps),
            f"{RUNS} runs ({_each(sleeps)}): the NAS running and online, then it "
            "falls into soft sleep (its plug drops to 8 W; a health request would "
            f"wake it) at {', '.join(f'{(r + 0.5) / RUNS * PLUG_POLL:.1f}' for r in range(RUNS))} "
            "s after a plug poll. Until sensor.baluhost_nas_state reads offline. "
            f"Target: within one plug poll ({PLUG_POLL} s), and no health check.",
        ),
        Row(
            "Wake-ups caused by BaluPi",
            f"{nas_times.request_wakeups} ({_per_day(nas_times.request_wakeups, ended - started)})",
            "Health requests that reached the NAS while it slept (the simulated NAS's "
            "soft sleep ends on any request, as BaluHost's does), over the whole "
            f"section ({duration(ended - started)}, {RUNS * 2} sleeps, "
            f"{nas_times.health_requests} health requests in all), heartbeat every "
            f"{HEARTBEAT} s. Target: 0.",
        ),
        Row(
            "Wake up pressed → packet at the NAS (median)",
            _spread(packets),
            f"{RUNS} runs ({_each(packets)}): POST button/press over REST until "
            "the simulated NAS received the magic packet on loopback UDP "
            "(state offline, plug on standby power: the NAS asleep).",
        ),
        Row(
            "NAS answers → state online (median)",
            _spread(after_up),
            f"{RUNS} runs ({_each(after_up)}): from the NAS switching to up (its "
            "health endpoint answers) until sensor.baluhost_nas_state reads online. "
            f"Boot times {boots} s spread that moment over one fast heartbeat. "
            f"Target: at most the fast heartbeat interval ({FAST_HEARTBEAT} s).",
        ),
        Row(
            "Wake up pressed → state online (median)",
            _spread(totals),
            f"{RUNS} runs ({_each(totals)}), the boot times ({boots} s) included; "
            "the state read booting "
            f"{duration(median([w.booting for w in wakes]))} (median) after the press.",
        ),
    ]


SECTION = Section(
    name="nas",
    title="NAS: power-off detection and Wake-on-LAN in a real Home Assistant",
    run=run,
    quick=False,
)
