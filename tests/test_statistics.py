"""Long-term statistics of the plug sensors, with Home Assistant's real recorder.

The recorder runs on SQLite in memory and compiles its statistics with its own
scheduled job (every 5 minutes, at :x0:10 and :x5:10; the hourly rows when :55 is
done). The plugs are the loopback simulators, their clocks follow the frozen time,
and every poll step lets the plugs use energy at their current power first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.balupi.const import CONF_PLUG_POLL_INTERVAL
from simulators.tapo import PlugMode, TapoPlugSimulator

# Plugs are read every 3 minutes here instead of 30 s: the statistics do not depend
# on the poll rate, and four simulated hours stay fast. Every step is shorter than
# 5 minutes, so the recorder's 5-minute job never skips a period; the hour, the
# quarter hour and the plugs' midnight fall on a poll.
POLL = timedelta(minutes=3)
HOUR = timedelta(hours=1)
WH = 0.001  # kWh; the plugs count whole watt-hours

SENSOR_RECORDER = "homeassistant.components.sensor.recorder"
NAS_POWER = "sensor.nas_plug_power"
NAS_TODAY = "sensor.nas_plug_energy_today"
NAS_MONTH = "sensor.nas_plug_energy_this_month"
TODAY_SENSORS = (NAS_TODAY, "sensor.router_energy_today", "sensor.pi_energy_today")
MONTH_SENSORS = (
    NAS_MONTH,
    "sensor.router_energy_this_month",
    "sensor.pi_energy_this_month",
)


@pytest.fixture
def enable_statistics() -> bool:
    """Let the recorder compile statistics on its own schedule, as in production."""
    return True


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """Start the recorder before Home Assistant, then allow custom integrations.

    Overrides the autouse fixture of conftest.py, which would create `hass` before
    the recorder's database fixture may run.
    """


@pytest.fixture(autouse=True)
def quiet_sql() -> Iterator[None]:
    """Keep SQLAlchemy's statement log (the harness sets it to INFO) out of the way."""
    logger = logging.getLogger("sqlalchemy.engine")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


Hook = Callable[[datetime], None]


class Home:
    """The simulated plugs and Home Assistant's clock, moved on together."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        plugs: list[TapoPlugSimulator],
    ) -> None:
        self.hass = hass
        self.freezer = freezer
        self.plugs = plugs
        self.used_wh = [0.0 for _ in plugs]
        """Energy each plug used since the entry was set up, in Wh."""
        for plug in plugs:
            plug.wall_clock = lambda: dt_util.utcnow().timestamp()

    async def set_up(self, entry: MockConfigEntry) -> None:
        entry.add_to_hass(self.hass)
        self.hass.config_entries.async_update_entry(
            entry,
            options={**entry.options, CONF_PLUG_POLL_INTERVAL: POLL.seconds},
        )
        assert await self.hass.config_entries.async_setup(entry.entry_id)
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def step(self, before_poll: Hook | None = None) -> None:
        """Let one poll interval pass: the plugs use energy, then they are read.

        `before_poll` sees the new time and may change the plugs before the read.
        """
        for index, plug in enumerate(self.plugs):
            self.used_wh[index] += plug.reported_power_w * POLL.seconds / 3600
            plug.run_for(POLL.seconds)
        self.freezer.tick(POLL)
        if before_poll is not None:
            before_poll(dt_util.utcnow())
        async_fire_time_changed(self.hass)
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def run_until(self, end: datetime, before_poll: Hook | None = None) -> None:
        """Step until the clock shows `end`."""
        while dt_util.utcnow() < end:
            await self.step(before_poll)

    async def settle(self, before_poll: Hook | None = None) -> None:
        """Step once more, past the recorder's job for the period that just ended.

        The job for a 5-minute period runs 10 s after its end.
        """
        await self.step(before_poll)
        await async_wait_recording_done(self.hass)


async def statistics(
    hass: HomeAssistant,
    start: datetime,
    end: datetime,
    statistic_ids: set[str],
    period: str = "hour",
) -> dict[str, list[dict[str, Any]]]:
    """The recorder's statistics rows, read in the recorder's executor."""
    return await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end,
        statistic_ids,
        period,
        None,
        {"mean", "min", "max", "sum", "state", "last_reset"},
    )


def starts(rows: list[dict[str, Any]]) -> list[datetime]:
    return [dt_util.utc_from_timestamp(row["start"]) for row in rows]


def new_cycles(caplog: pytest.LogCaptureFixture, entity_id: str) -> int:
    """How often the recorder took a decrease of the sensor for a meter reset."""
    return sum(
        1
        for record in caplog.records
        if record.name == SENSOR_RECORDER
        and record.getMessage().startswith(f"Detected new cycle for {entity_id},")
    )


def recorder_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the sensor statistics complained about, e.g. a decreasing total."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == SENSOR_RECORDER and record.levelno >= logging.WARNING
    ]


START = datetime(2026, 11, 26, 10, 0, tzinfo=dt_util.UTC)


def nas_power_schedule(at: datetime) -> float:
    """40 W, 60 W, 25 W for an hour each; then 20 W and 50 W every 15 minutes."""
    minutes = int((at - START).total_seconds() // 60)
    hour, minute = divmod(minutes, 60)
    if hour < 3:
        return (40.0, 60.0, 25.0)[hour]
    return 20.0 if (minute // 15) % 2 == 0 else 50.0


@pytest.mark.freeze_time(START)
async def test_hourly_statistics_of_power_and_energy(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Four hours: hourly mean/min/max of the power, the energy's sum and state."""
    caplog.set_level(logging.INFO, logger=SENSOR_RECORDER)
    home = Home(hass, freezer, plugs)
    nas = plugs[0]
    nas.power_w = nas_power_schedule(START)
    await home.set_up(plug_entry)

    def follow_schedule(now: datetime) -> None:
        nas.power_w = nas_power_schedule(now)

    await home.run_until(START + 4 * HOUR, follow_schedule)
    await home.settle(follow_schedule)

    power_ids = {NAS_POWER, "sensor.router_power", "sensor.pi_power"}
    total_power = "sensor.balupi_total_power"
    rows = await statistics(
        hass,
        START,
        START + 4 * HOUR,
        power_ids | {total_power, *TODAY_SENSORS, *MONTH_SENSORS},
    )
    hours = [START + n * HOUR for n in range(4)]
    for statistic_id, statistic_rows in rows.items():
        assert starts(statistic_rows) == hours, statistic_id

    # The mean is weighted by time. Min and max take in the value in force when the
    # hour began: the NAS drew 40 W up to 11:00:00, so 11:00-12:00 has min 40 W.
    nas_hours = [(row["mean"], row["min"], row["max"]) for row in rows[NAS_POWER]]
    assert nas_hours == [
        pytest.approx((40.0, 40.0, 40.0)),
        pytest.approx((60.0, 40.0, 60.0)),
        pytest.approx((25.0, 25.0, 60.0)),
        pytest.approx((35.0, 20.0, 50.0)),  # 20 W and 50 W, 30 minutes each
    ]
    for entity_id, watts in (("sensor.router_power", 4.0), ("sensor.pi_power", 3.2)):
        for row in rows[entity_id]:
            assert (row["mean"], row["min"], row["max"]) == pytest.approx(
                (watts, watts, watts)
            ), entity_id
    # The whole-home power is the three plugs' sum. Its min is left out: at setup the
    # sum counts the plugs read so far (40 W, 44 W, then 47.2 W, all at 10:00:00 on
    # the frozen clock), and the recorder may take any of them for the value in
    # force when a later hour begins.
    for row, nas_row in zip(rows[total_power], rows[NAS_POWER], strict=True):
        assert row["mean"] == pytest.approx(nas_row["mean"] + 7.2)
        assert row["max"] == pytest.approx(nas_row["max"] + 7.2)
    for row in rows[NAS_POWER]:
        assert row["sum"] is None
        assert row["state"] is None

    # Energy: `sum` is what was used from the first reading to the last one of the
    # hour (the reading at :57), `state` that last reading.
    nas_used_wh = [
        40 * 57 / 60,
        40 + 60 * 57 / 60,
        40 + 60 + 25 * 57 / 60,
        40 + 60 + 25 + (20 * 15 + 50 * 15 + 20 * 15 + 50 * 12) / 60,
    ]
    for entity_id, first in ((NAS_TODAY, 0.320), (NAS_MONTH, 9.100)):
        energy = rows[entity_id]
        assert [row["sum"] for row in energy] == [
            pytest.approx(wh / 1000, abs=WH) for wh in nas_used_wh
        ], entity_id
        for row in energy:
            assert row["state"] == pytest.approx(first + row["sum"]), entity_id
            assert row["mean"] is None
            assert row["last_reset"] is None
    assert float(hass.states.get(NAS_TODAY).state) == pytest.approx(
        0.320 + home.used_wh[0] / 1000, abs=WH
    )
    for entity_id, watts, first in (
        ("sensor.router_energy_today", 4.0, 0.050),
        ("sensor.pi_energy_today", 3.2, 0.040),
    ):
        assert [row["sum"] for row in rows[entity_id]] == [
            pytest.approx(watts * (n + 57 / 60) / 1000, abs=WH) for n in range(4)
        ], entity_id
        assert rows[entity_id][-1]["state"] == pytest.approx(
            first + rows[entity_id][-1]["sum"]
        )

    for entity_id in (*TODAY_SENSORS, *MONTH_SENSORS):
        assert new_cycles(caplog, entity_id) == 0, entity_id
    assert recorder_warnings(caplog) == []


@pytest.mark.freeze_time(START)
async def test_a_reconnect_reading_zero_is_no_reset_in_the_statistics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The NAS plug drops out at 10:30 and reads 0 Wh once when it is back at 10:33."""
    caplog.set_level(logging.INFO, logger=SENSOR_RECORDER)
    home = Home(hass, freezer, plugs)
    nas = plugs[0]
    nas.power_w = 40.0
    await home.set_up(plug_entry)
    await home.run_until(START + timedelta(minutes=27))
    held = hass.states.get(NAS_TODAY).state

    await nas.set_offline(PlugMode.REFUSED)
    await home.step()
    assert hass.states.get(NAS_TODAY).state == STATE_UNAVAILABLE
    await nas.set_offline(PlugMode.ONLINE)
    real: dict[str, float] = {}

    def counters_read_zero(now: datetime) -> None:
        real["today"], nas.energy_today_wh = nas.energy_today_wh, 0.0
        real["month"], nas.energy_month_wh = nas.energy_month_wh, 0.0

    await home.step(counters_read_zero)
    assert hass.states.get(NAS_TODAY).state == held
    assert hass.states.get(NAS_MONTH).state != "0.0"

    def counters_are_back(now: datetime) -> None:
        # What the plug counted meanwhile, on top of its real counters.
        nas.energy_today_wh += real["today"]
        nas.energy_month_wh += real["month"]

    await home.step(counters_are_back)
    await home.run_until(START + HOUR)
    await home.settle()

    rows = await statistics(hass, START, START + HOUR, {NAS_TODAY, NAS_MONTH})
    for entity_id, first in ((NAS_TODAY, 0.320), (NAS_MONTH, 9.100)):
        (row,) = rows[entity_id]
        # 40 W up to 10:57; a fake reset would count the whole counter once more.
        assert row["sum"] == pytest.approx(40 * 57 / 60 / 1000, abs=WH)
        assert row["state"] == pytest.approx(first + row["sum"])
        assert new_cycles(caplog, entity_id) == 0, entity_id

    five_minutes = await statistics(
        hass, START, START + HOUR, {NAS_TODAY}, period="5minute"
    )
    sums = [row["sum"] for row in five_minutes[NAS_TODAY]]
    assert len(sums) == 12
    # Never down. The energy of the outage shows in one step, 10:27-10:39 at 40 W;
    # a fake reset would add the whole counter, 0.3 kWh and more.
    steps = [later - earlier for earlier, later in pairwise(sums)]
    assert min(steps) >= 0, sums
    assert max(steps) == pytest.approx(40 * 12 / 60 / 1000, abs=WH), sums
    assert recorder_warnings(caplog) == []


MIDNIGHT = datetime(2026, 11, 26, 23, 0, tzinfo=dt_util.UTC)
"""The plugs' midnight: their clock runs on Europe/Berlin (UTC+1)."""


def reset_at_midnight(plugs: list[TapoPlugSimulator]) -> Hook:
    def reset(now: datetime) -> None:
        if now == MIDNIGHT:
            for plug in plugs:
                plug.reset_day()

    return reset


@pytest.mark.freeze_time(MIDNIGHT - HOUR)
async def test_the_plugs_midnight_keeps_the_sum_growing_by_what_was_used(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Energy today starts again at 0; the statistics sum goes on from where it was.

    What a plug uses between its last reading before midnight and midnight (here
    3 minutes, normally up to 30 s) is in no "today" reading; the month counter has it.
    """
    caplog.set_level(logging.INFO, logger=SENSOR_RECORDER)
    home = Home(hass, freezer, plugs)
    plugs[0].power_w = 40.0
    await home.set_up(plug_entry)
    await home.run_until(MIDNIGHT + HOUR, reset_at_midnight(plugs))
    await home.settle()

    rows = await statistics(
        hass, MIDNIGHT - HOUR, MIDNIGHT + HOUR, {*TODAY_SENSORS, *MONTH_SENSORS}
    )
    for entity_id, watts, today_first, month_first in (
        (NAS_TODAY, 40.0, 0.320, 9.100),
        ("sensor.router_energy_today", 4.0, 0.050, 1.500),
        ("sensor.pi_energy_today", 3.2, 0.040, 1.200),
    ):
        before, after = rows[entity_id]
        # Read at 22:57; then from 23:00 (0 Wh) to 23:57.
        assert before["sum"] == pytest.approx(watts * 57 / 60 / 1000, abs=WH)
        assert before["state"] == pytest.approx(today_first + before["sum"])
        assert after["sum"] - before["sum"] == pytest.approx(
            watts * 57 / 60 / 1000, abs=WH
        )
        assert after["state"] == pytest.approx(after["sum"] - before["sum"])
        assert new_cycles(caplog, entity_id) == 1, entity_id

        month_id = entity_id.replace("_today", "_this_month")
        month_before, month_after = rows[month_id]
        assert month_before["sum"] == pytest.approx(before["sum"], abs=WH)
        assert month_after["sum"] - month_before["sum"] == pytest.approx(
            watts / 1000, abs=WH
        )
        assert month_after["state"] == pytest.approx(month_first + month_after["sum"])
        assert new_cycles(caplog, month_id) == 0, month_id
    assert recorder_warnings(caplog) == []


# The websocket client's access token, made when the test starts, is valid 30 minutes.
@pytest.mark.freeze_time(MIDNIGHT - timedelta(minutes=9))
async def test_energy_dashboard_finds_no_problem_with_the_plugs(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug_entry: MockConfigEntry,
    plugs: list[TapoPlugSimulator],
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The plugs' energy sensors as devices of the Energy dashboard, past midnight."""
    home = Home(hass, freezer, plugs)
    await home.set_up(plug_entry)
    await home.run_until(MIDNIGHT + timedelta(minutes=9), reset_at_midnight(plugs))
    await home.settle()
    assert float(hass.states.get(NAS_TODAY).state) < 0.320

    assert await async_setup_component(hass, "energy", {})
    client = await hass_ws_client(hass)
    devices = [*TODAY_SENSORS, *MONTH_SENSORS]
    await client.send_json_auto_id(
        {
            "type": "energy/save_prefs",
            "device_consumption": [{"stat_consumption": stat} for stat in devices],
        }
    )
    saved = await client.receive_json()
    assert saved["success"], saved

    await client.send_json_auto_id({"type": "energy/validate"})
    validation = await client.receive_json()
    assert validation["success"], validation
    assert validation["result"]["energy_sources"] == []
    assert validation["result"]["device_consumption"] == [[] for _ in devices]

    # What Developer tools → Statistics would list as a problem.
    await client.send_json_auto_id({"type": "recorder/validate_statistics"})
    issues = await client.receive_json()
    assert issues["success"], issues
    assert {
        statistic_id: problems
        for statistic_id, problems in issues["result"].items()
        if statistic_id.startswith("sensor.")
    } == {}
