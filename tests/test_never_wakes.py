"""BaluPi never wakes a sleeping NAS, and shows what it knows (issue 13).

Against the linked simulators: the NAS hangs on its Tapo plug (the plug reads what the
NAS draws, its relay cuts the NAS's power), boots on a magic packet over loopback, and
a health request to the sleeping NAS wakes it, as on BaluHost. The simulator counts
those wake-ups (``request_wakeups``): BaluPi is the only one sending health requests
here, so every one of them is a wake-up BaluPi caused. In every case it must be 0, and
the NAS state must reach the right value within one plug interval of the evidence.

Time is Home Assistant's frozen clock. ``Clock.advance`` moves it from one due timer
to the next, so every heartbeat and plug poll runs at its own moment and the NAS can
fall asleep at any moment between them; nothing waits in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
import logging
import random
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.async_ import get_scheduled_timer_handles
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    CONF_HEARTBEAT_INTERVAL,
    CONF_NAS_PLUG,
    CONF_PLUG_POLL_INTERVAL,
    CONF_TAPO_PASSWORD,
    CONF_TAPO_USERNAME,
    CONF_WOL_BROADCAST,
    CONF_WOL_PORT,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.balupi.lifecycle import EVENT_NAS_STATE_CHANGED
from simulators.baluhost import BaluHostSimulator, NasCondition
from simulators.nas_push import NasPushClient
from simulators.tapo import PlugMode, TapoPlugSimulator

from .conftest import (
    NAS_MAC,
    SECRET,
    TAPO_PASSWORD,
    TAPO_USERNAME,
    entry_data,
    plug_subentry,
)

STATE = "sensor.baluhost_nas_state"
POWER_STATE = "sensor.baluhost_nas_power_state"
REACHABLE = "binary_sensor.baluhost_nas_reachable"
SEED = 13
MOMENTS = 100
"""Random moments to fall asleep at, per pair of intervals."""
JITTER = 1.0
"""Seconds a poll may come later than its interval: Home Assistant starts each timer
at a whole second plus a random 0.05-0.5 s."""
DRIVE_GRACE = 0.3
"""Real seconds to wait for Home Assistant to go idle before moving the clock on to
the next timer (only while a peer is silent: its timeouts run on the frozen clock)."""
REAL_LIMIT = 30.0
"""Real seconds one ``Clock`` step may take."""
REAL_NAP = 0.01
"""Real seconds to nap while Home Assistant works."""


def real_monotonic() -> float:
    """Real seconds, whatever the frozen clock says (freezegun leaves this alone)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Clock:
    """Home Assistant's frozen clock, moved from one due timer to the next."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer

    def _next_due(self) -> float | None:
        handles = [
            handle.when()
            for handle in get_scheduled_timer_handles(self.hass.loop)
            if isinstance(handle, asyncio.TimerHandle) and not handle.cancelled()
        ]
        return min(handles, default=None)

    async def advance(self, seconds: float, *, drive: bool = False) -> None:
        """Let ``seconds`` pass; every timer fires at its own moment on the way."""
        loop = self.hass.loop
        target = loop.time() + seconds
        while (due := self._next_due()) is not None and due <= target:
            self.freezer.tick(timedelta(seconds=max(0.0, due - loop.time())))
            async_fire_time_changed_exact(self.hass)
            await self.idle(drive=drive)
        self.freezer.tick(timedelta(seconds=max(0.0, target - loop.time())))
        async_fire_time_changed_exact(self.hass)
        await self.idle(drive=drive)

    async def idle(self, *, drive: bool = False) -> None:
        """Wait until Home Assistant has done what fell due.

        With ``drive``, give up after ``DRIVE_GRACE`` real seconds: what still runs
        then waits for a timer (a silent peer's timeout), which the next step fires.
        """
        loop = self.hass.loop
        done = asyncio.ensure_future(
            self.hass.async_block_till_done(wait_background_tasks=True)
        )
        started = real_monotonic()
        while not done.done():
            # A nap in real time: the loop's own timeouts stand still with the clock.
            nap = loop.run_in_executor(None, time.sleep, REAL_NAP)
            await asyncio.wait({done, nap}, return_when=asyncio.FIRST_COMPLETED)
            waited = real_monotonic() - started
            if drive and waited > DRIVE_GRACE:
                done.cancel()
                return
            if waited > REAL_LIMIT:
                done.cancel()
                pytest.fail("Home Assistant does not go idle")


class Home:
    """The NAS on its plug, Home Assistant with BaluPi, and what BaluPi said."""

    def __init__(
        self,
        hass: HomeAssistant,
        clock: Clock,
        nas: BaluHostSimulator,
        plug: TapoPlugSimulator,
        entry: MockConfigEntry,
    ) -> None:
        self.hass = hass
        self.clock = clock
        self.nas = nas
        self.plug = plug
        self.entry = entry
        self.changes: list[tuple[datetime, str, str, str]] = []
        hass.bus.async_listen(EVENT_NAS_STATE_CHANGED, self._changed)

    @callback
    def _changed(self, event: Event) -> None:
        data = event.data
        self.changes.append(
            (dt_util.utcnow(), data["old_state"], data["new_state"], data["reason"])
        )

    def state(self, entity_id: str = STATE) -> str:
        current = self.hass.states.get(entity_id)
        assert current is not None, entity_id
        return current.state

    def attributes(self, entity_id: str = STATE) -> dict[str, Any]:
        current = self.hass.states.get(entity_id)
        assert current is not None, entity_id
        return dict(current.attributes)

    async def until(
        self, wanted: str, *, within: float, drive: bool = False, why: str = ""
    ) -> float:
        """Move the clock until the NAS state reads ``wanted``; return how long it took.

        Fails when it takes longer than ``within`` seconds.
        """
        started = dt_util.utcnow()
        step = 0.5
        while self.state() != wanted:
            took = (dt_util.utcnow() - started).total_seconds()
            assert took <= within, (
                f"{why}: the state still reads {self.state()} (not {wanted}) "
                f"{took:.1f} s after the evidence; changes {self.changes[-3:]}"
            )
            await self.clock.advance(step, drive=drive)
        return (dt_util.utcnow() - started).total_seconds()

    async def restart(self) -> None:
        """Home Assistant restarts: BaluPi is set up again on the same storage."""
        assert await self.hass.config_entries.async_reload(self.entry.entry_id)
        await self.clock.idle()

    def invariant(self) -> None:
        assert self.nas.request_wakeups == 0, (
            f"BaluPi woke the NAS: {self.nas.wakeups}; changes {self.changes}"
        )


@pytest.fixture
def intervals(request: pytest.FixtureRequest) -> tuple[int, int]:
    """Seconds between plug polls and between heartbeats (the defaults, unless the
    test parametrizes them)."""
    return getattr(request, "param", (30, 30))


@pytest.fixture
async def home(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: BaluHostSimulator,
    plugs: list[TapoPlugSimulator],
    intervals: tuple[int, int],
) -> AsyncIterator[Home]:
    """BaluPi for the NAS on its plug, which it draws its power from."""
    plug_poll, heartbeat = intervals
    plug = plugs[0]
    nas.plug = plug
    nas.boot_time = 20
    wol_port = await nas.listen_for_wake_on_lan()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data={
            **entry_data(nas),
            CONF_TAPO_USERNAME: TAPO_USERNAME,
            CONF_TAPO_PASSWORD: TAPO_PASSWORD,
        },
        options={
            **DEFAULT_OPTIONS,
            CONF_NAS_PLUG: plug.mac.lower(),
            CONF_PLUG_POLL_INTERVAL: plug_poll,
            CONF_HEARTBEAT_INTERVAL: heartbeat,
            CONF_WOL_BROADCAST: "127.0.0.1",
            CONF_WOL_PORT: wol_port,
        },
        subentries_data=[plug_subentry(plug)],
        minor_version=2,
    )
    entry.add_to_hass(hass)
    clock = Clock(hass, freezer)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await clock.idle()
    home = Home(hass, clock, nas, plug, entry)
    assert home.state() == "online"
    yield home
    home.invariant()


@pytest.mark.parametrize(
    "intervals", [(30, 30), (10, 30), (45, 30), (20, 45)], indirect=True
)
async def test_sleep_at_random_moments_never_wakes_the_nas(
    home: Home, intervals: tuple[int, int]
) -> None:
    """The NAS falls asleep at 100 random moments of both timers' cycles.

    Each time: no health request reaches it, and the state reads offline within one
    plug interval; then someone uses it, and the state reads online again.
    """
    plug_poll, heartbeat = intervals
    rng = random.Random(f"{SEED}/{plug_poll}/{heartbeat}")  # noqa: S311
    cycle = max(plug_poll, heartbeat)
    latest = 0.0
    for moment in range(MOMENTS):
        await home.clock.advance(rng.uniform(0, 2 * cycle))
        await home.nas.sleep()
        took = await home.until(
            "offline", within=plug_poll + JITTER, why=f"asleep, moment {moment}"
        )
        latest = max(latest, took)
        assert home.changes[-1][3] == "the NAS plug reads standby power: asleep"
        home.invariant()
        await home.clock.advance(rng.uniform(0, cycle))
        await home.nas.wake()  # someone opens a share: awake again, not by BaluPi
        await home.until(
            "online", within=plug_poll + JITTER, why=f"woken, moment {moment}"
        )
    assert len(home.nas.wakeups) == MOMENTS
    assert {wakeup.by for wakeup in home.nas.wakeups} == {"by hand"}
    assert latest <= plug_poll + JITTER


async def test_a_restart_while_the_nas_sleeps(home: Home) -> None:
    await home.nas.sleep()
    await home.until("offline", within=30 + JITTER, why="asleep")
    asked = home.nas.health_requests
    await home.restart()
    assert home.state() == "offline"
    assert home.state(POWER_STATE) == "standby"
    await home.clock.advance(300)
    assert home.state() == "offline"
    assert home.nas.health_requests == asked, "nothing is asked of a sleeping NAS"
    home.invariant()


async def test_the_nas_falls_asleep_while_home_assistant_is_down(
    hass: HomeAssistant, home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored: online at full power. Back up: the plug is read before anything else.

    The log says what happened: nothing was asked, and why; not "not answering".
    """
    caplog.set_level(logging.INFO, logger="custom_components.balupi")
    assert await hass.config_entries.async_unload(home.entry.entry_id)
    await home.clock.idle()
    await home.nas.sleep()
    assert await hass.config_entries.async_setup(home.entry.entry_id)
    await home.clock.idle()
    home.invariant()
    assert home.state() == "offline"
    assert home.changes[-1][1:] == (
        "online",
        "offline",
        "the NAS plug reads standby power: asleep",
    )
    await home.clock.advance(300)
    home.invariant()
    said = [r.getMessage() for r in caplog.records if r.name.startswith("custom_comp")]
    assert f"BaluHost NAS at {home.nas.url}: not asked: its plug reads standby " in (
        "\n".join(said)
    )
    assert "would wake it" in "\n".join(said)
    assert not any("answer" in message for message in said), said


@pytest.mark.parametrize("outage", [PlugMode.SILENT, PlugMode.REFUSED])
async def test_the_plug_goes_away_then_the_nas_sleeps(
    home: Home, outage: PlugMode
) -> None:
    """While its plug cannot be read, the NAS is not asked and BaluPi says so."""
    asked = home.nas.health_requests
    await home.plug.set_offline(outage)
    await home.clock.advance(60, drive=True)
    assert home.state() == "unknown"
    assert home.attributes()["last_known_state"] == "online"
    assert home.state(POWER_STATE) == "unavailable"
    assert home.state(REACHABLE) == "unknown"
    await home.nas.sleep()
    await home.clock.advance(150, drive=True)
    assert home.nas.health_requests == asked, "nothing is asked while the plug is away"
    home.invariant()
    assert home.state() == "unknown"

    # The plug is back: its first reading tells, within one plug interval.
    await home.plug.set_offline(PlugMode.ONLINE)
    await home.until("offline", within=30 + JITTER, drive=True, why="plug back")
    assert home.state(POWER_STATE) == "standby"
    assert home.state(REACHABLE) == "off"
    home.invariant()


async def test_the_plug_comes_back_after_an_outage(home: Home) -> None:
    """Asleep when the plug went, woken meanwhile: the first reading asks at once."""
    await home.nas.sleep()
    await home.until("offline", within=30 + JITTER, why="asleep")
    await home.plug.set_offline(PlugMode.SILENT)
    await home.clock.advance(90, drive=True)
    assert home.state() == "unknown"
    assert home.attributes()["last_known_state"] == "offline"
    await home.nas.wake()  # used meanwhile
    await home.clock.advance(60, drive=True)
    assert home.state() == "unknown"
    await home.plug.set_offline(PlugMode.ONLINE)
    await home.until("online", within=30 + JITTER, drive=True, why="plug back")
    assert home.state(POWER_STATE) == "active"
    assert home.state(REACHABLE) == "on"
    home.invariant()

    # And once more while it runs: back to online, nothing woken.
    await home.plug.set_offline(PlugMode.REFUSED)
    await home.clock.advance(90)
    await home.plug.set_offline(PlugMode.ONLINE)
    await home.until("online", within=30 + JITTER, why="plug back, NAS running")
    home.invariant()


async def test_shutdown_push_then_power_off(
    hass: HomeAssistant,
    home: Home,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """*Shutting down* shows until the plug reads no power, then offline."""
    client = await hass_client_no_auth()
    home.nas.push = NasPushClient(
        client.session, str(client.make_url("")).rstrip("/"), SECRET
    )
    home.nas.shutdown_time = 40.0  # longer than a plug interval
    reply = await home.nas.shut_down_gracefully()
    assert reply is not None
    assert reply.ok, reply
    await home.clock.idle()
    assert home.state() == "shutting_down"
    assert home.state(REACHABLE) == "off"
    asked = home.nas.health_requests
    await home.clock.advance(39)
    assert home.state() == "shutting_down", "still powering down"
    assert home.nas.condition is NasCondition.SHUTTING_DOWN
    await home.clock.advance(1)
    assert home.nas.condition is NasCondition.OFF
    await home.until("offline", within=30 + JITTER, why="powered off")
    assert home.changes[-2:][0][1:3] == ("online", "shutting_down")
    assert home.changes[-1][1:] == (
        "shutting_down",
        "offline",
        "the NAS powered off after shutting down",
    )
    assert home.nas.health_requests == asked, "a NAS that said goodbye is not asked"
    await home.clock.advance(300)
    assert home.state() == "offline"
    home.invariant()


async def test_shutting_down_is_bounded(
    hass: HomeAssistant,
    home: Home,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A NAS that stops its services but never powers off is offline after the bound."""
    client = await hass_client_no_auth()
    push = NasPushClient(client.session, str(client.make_url("")).rstrip("/"), SECRET)
    home.nas.shutdown_time = 3600.0
    home.nas.push = push
    await home.nas.shut_down_gracefully()
    await home.clock.idle()
    assert home.state() == "shutting_down"
    took = await home.until("offline", within=121, why="shutdown bound")
    assert took >= 119
    assert home.changes[-1][1:] == (
        "shutting_down",
        "offline",
        "the NAS stopped its services",
    )
    home.invariant()
