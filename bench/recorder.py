"""Section "recorder": how fast the recorder's database grows per plug and day.

One Home Assistant (``bench.hass``, with the real recorder on SQLite) gets a BaluPi
entry for the simulated NAS and ``PLUGS`` simulated plugs (``bench.farm``), with the
plugs read every 10 s (the option's minimum, set through the options flow over REST).
The farm runs with ``--vary``: every reading moves between two polls (power by up to
±4 %, voltage by up to ±2 V, the current with them) and the energy counters grow in
real time, as on real plugs. With constant readings the recorder would write almost
nothing: it adds a state row only when a state or an attribute changes.

The database is read twice, ``Settings.recorder_minutes`` apart, through a read-only
SQLite connection beside the running recorder, each time in one read transaction
(the write-ahead log included): the bytes of every table with its indexes (SQLite's
``dbstat``: whole pages), ``page_count * page_size``, and the rows added in between,
states by entity, events by type, short-term statistics by period.

The daily figures per plug are extrapolated from there, with the arithmetic in the
rows' meanings:

* states: rows that come with every poll (power, voltage, current, and BaluPi's total
  power and month estimate, rewritten on every plug's update) scale with the poll
  interval, measured at 10 s and converted to the default 30 s; rows that come with
  the energy counters (energy today and this month, cost today and this month) change
  once per watt-hour used, whatever the interval, and are taken as measured;
* statistics: one short-term row per 5 minutes (288 a day) and one hourly row
  (24 a day) for every plug sensor with a state class, at the bytes per row measured
  in the short-term table (the hourly table has the same columns);
* events: every event the instance recorded in the window, put on the plugs' account.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import re
import sqlite3
import time
from typing import Any

import aiohttp

from custom_components.balupi.const import (
    CONF_NAS_PLUG,
    CONF_PLUG_POLL_INTERVAL,
    DEFAULT_OPTIONS,
)

from .common import BenchError, Row, Section, Settings, progress
from .farm import plug_mac, running_farm
from .hass import Api, add_balupi, home_assistant, onboard

PLUGS = 10
POLL = 10
"""Seconds between two readings of a plug while measuring: the option's minimum."""
DEFAULT_POLL = int(DEFAULT_OPTIONS[CONF_PLUG_POLL_INTERVAL])
"""Seconds between two readings of a plug by default: what the figures are for."""
REQUESTS_PER_READ = 2
"""SMART requests python-kasa sends per steady-state read of a plug (section plugs
measures it as HTTP exchanges per read)."""
WARM_UP = 40.0
"""Seconds between setting the options (the entry reloads) and the first reading."""
REPORT_EVERY = 60.0
"""Seconds between two progress lines while the recorder records."""
DATABASE = "home-assistant_v2.db"
DAY = 86400
SHORT_TERM_PER_DAY = DAY // 300
"""Short-term statistics rows per sensor and day: one per 5 minutes."""
HOURLY_PER_DAY = 24
KEEP_DAYS = 10
"""The recorder's default ``purge_keep_days``: states and short-term statistics older
than that are purged every night; hourly statistics are kept for good."""

STATE_TABLES = ("states", "state_attributes", "states_meta")
STATISTICS_TABLES = ("statistics_short_term", "statistics", "statistics_meta")
EVENT_TABLES = ("events", "event_data", "event_types")

PLUG_ENTITY = re.compile(r"^[a-z_]+\.bench_plug_\d+(_[a-z_]+)?$")
"""Entity IDs of the simulated plugs' entities ("Bench plug 3" → sensor.bench_plug_3_…)."""
ENERGY_SUFFIXES = ("_energy_today", "_energy_this_month")
"""Plug sensors that change once per watt-hour, not with every poll."""
HUB_PER_POLL = ("sensor.balupi_total_power", "sensor.balupi_energy_cost_month_estimate")
"""BaluPi's sensors over all plugs that change with every plug's every reading."""
HUB_PER_ENERGY = (
    "sensor.balupi_energy_cost_today",
    "sensor.balupi_energy_cost_this_month",
)
"""BaluPi's sensors over all plugs that change when a plug's energy counter does."""


@dataclass(frozen=True, slots=True)
class Marks:
    """The last row IDs at the first reading: later rows are the window's."""

    state_id: int
    event_id: int
    short_term_id: int


@dataclass(frozen=True, slots=True)
class Reading:
    """The database as one read transaction saw it."""

    at: float
    """``time.monotonic()`` when it was read."""
    size: int
    """``page_count * page_size``: the database's size, the write-ahead log included."""
    free: int
    """Bytes of free pages in it."""
    table_bytes: dict[str, int]
    """Bytes of whole pages per table, its indexes included (``dbstat``)."""
    table_used: dict[str, int]
    """Of those, the bytes in use: without the free space of partly filled pages."""
    table_rows: dict[str, int]
    """Rows per table."""
    marks: Marks
    states_by_entity: Counter[str]
    """State rows after the marks it was read with, by entity ID."""
    events_by_type: Counter[str]
    """Event rows after the marks, by event type."""
    short_term_rows: int
    """Short-term statistics rows after the marks."""
    short_term_plug_rows: int
    """Of those, the rows of the plugs' sensors."""
    short_term_periods: int
    """Distinct 5-minute periods among those rows."""
    plug_statistics: int
    """Statistics IDs (sensors with a state class) of the plugs' entities."""


def _scalar(db: sqlite3.Connection, sql: str, *args: Any) -> int:
    value = db.execute(sql, args).fetchone()[0]
    return int(value or 0)


def _read(path: Path, since: Marks | None) -> Reading:
    """Read sizes and row counts in one transaction beside the running recorder."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute("BEGIN")
        at = time.monotonic()
        page_size = _scalar(db, "PRAGMA page_size")
        table_bytes: Counter[str] = Counter()
        table_used: Counter[str] = Counter()
        for table, size, used in db.execute(
            "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize), "
            "sum(d.pgsize - d.unused) FROM dbstat AS d "
            "LEFT JOIN sqlite_master AS m ON m.name = d.name GROUP BY 1"
        ):
            table_bytes[table] += int(size)
            table_used[table] += int(used)
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        ]
        marks = Marks(
            state_id=_scalar(db, "SELECT max(state_id) FROM states"),
            event_id=_scalar(db, "SELECT max(event_id) FROM events"),
            short_term_id=_scalar(db, "SELECT max(id) FROM statistics_short_term"),
        )
        after = since or marks
        states = Counter(
            {
                entity: int(count)
                for entity, count in db.execute(
                    "SELECT m.entity_id, count(*) FROM states AS s "
                    "JOIN states_meta AS m ON m.metadata_id = s.metadata_id "
                    "WHERE s.state_id > ? GROUP BY m.entity_id",
                    (after.state_id,),
                )
            }
        )
        events = Counter(
            {
                str(kind): int(count)
                for kind, count in db.execute(
                    "SELECT t.event_type, count(*) FROM events AS e "
                    "LEFT JOIN event_types AS t ON t.event_type_id = e.event_type_id "
                    "WHERE e.event_id > ? GROUP BY 1",
                    (after.event_id,),
                )
            }
        )
        short_term_plug_rows = 0
        periods: set[float] = set()
        short_term_rows = 0
        for statistic_id, start, count in db.execute(
            "SELECT m.statistic_id, s.start_ts, count(*) FROM statistics_short_term "
            "AS s JOIN statistics_meta AS m ON m.id = s.metadata_id WHERE s.id > ? "
            "GROUP BY 1, 2",
            (after.short_term_id,),
        ):
            short_term_rows += count
            periods.add(start)
            if PLUG_ENTITY.match(statistic_id):
                short_term_plug_rows += count
        plug_statistics = sum(
            bool(PLUG_ENTITY.match(statistic_id))
            for (statistic_id,) in db.execute(
                "SELECT statistic_id FROM statistics_meta"
            )
        )
        reading = Reading(
            at=at,
            size=_scalar(db, "PRAGMA page_count") * page_size,
            free=_scalar(db, "PRAGMA freelist_count") * page_size,
            table_bytes=dict(table_bytes),
            table_used=dict(table_used),
            table_rows={
                table: _scalar(db, f'SELECT count(*) FROM "{table}"')  # noqa: S608
                for table in tables
            },
            marks=marks,
            states_by_entity=states,
            events_by_type=events,
            short_term_rows=short_term_rows,
            short_term_plug_rows=short_term_plug_rows,
            short_term_periods=len(periods),
            plug_statistics=plug_statistics,
        )
        db.execute("COMMIT")
    except sqlite3.Error as err:
        raise BenchError(f"reading the recorder's database {path}: {err}") from err
    finally:
        db.close()
    return reading


@dataclass(frozen=True, slots=True)
class StateRows:
    """The window's state rows, by what makes them."""

    per_poll: int
    """Rows that every poll of a plug makes (its readings, BaluPi's totals)."""
    per_energy: int
    """Rows that a plug's energy counter makes (energy sensors, costs)."""
    other: int
    """Rows of everything else (the NAS, the DNS, Home Assistant's own)."""
    power: int
    """Rows of the plugs' power sensors alone: about one per poll."""


def _classify(states: Counter[str]) -> StateRows:
    per_poll = per_energy = other = power = 0
    for entity, count in states.items():
        if entity in HUB_PER_POLL:
            per_poll += count
        elif entity in HUB_PER_ENERGY:
            per_energy += count
        elif PLUG_ENTITY.match(entity):
            if entity.endswith(ENERGY_SUFFIXES):
                per_energy += count
            else:  # readings; a plug entity unknown here counts as per poll
                per_poll += count
            if entity.startswith("sensor.") and entity.endswith("_power"):
                power += count
        else:
            other += count
    return StateRows(per_poll, per_energy, other, power)


def _bytes(reading: Reading, tables: tuple[str, ...]) -> int:
    return sum(reading.table_bytes.get(table, 0) for table in tables)


def _used(reading: Reading, tables: tuple[str, ...]) -> int:
    return sum(reading.table_used.get(table, 0) for table in tables)


def _rows(reading: Reading, table: str) -> int:
    return reading.table_rows.get(table, 0)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _mb(size: float) -> str:
    return f"{size / 1e6:.2f} MB"


def _kb(size: float) -> str:
    return f"{size / 1e3:.1f} kB"


async def _record(minutes: float, check: Callable[[], None]) -> None:
    """Let the recorder record for ``minutes``, saying so every REPORT_EVERY."""
    end = time.monotonic() + minutes * 60
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(REPORT_EVERY, left))
        check()
        progress(
            f"recorder: {max(0.0, end - time.monotonic()) / 60:.1f} of "
            f"{minutes:g} min left"
        )


def _options() -> dict[str, Any]:
    options: dict[str, Any] = {
        key: value for key, value in DEFAULT_OPTIONS.items() if key != CONF_NAS_PLUG
    }
    options[CONF_PLUG_POLL_INTERVAL] = POLL
    return options


@dataclass(frozen=True, slots=True)
class Window:
    """What the section measured."""

    first: Reading
    last: Reading
    requests: list[int]
    """SMART requests each plug answered between the readings."""
    total_power: float | None
    """BaluPi's total power over the plugs at the end, in W."""


async def _total_power(api: Api) -> float | None:
    state = await api.get(f"/api/states/{HUB_PER_POLL[0]}")
    try:
        return float(state["state"])
    except (KeyError, TypeError, ValueError):
        return None


async def _measure(settings: Settings) -> Window:
    """Both readings of the database, and the plugs' requests in between."""
    async with (
        running_farm(PLUGS, latency=settings.latency, nas=True, vary=True) as farm,
        home_assistant(f"HA + BaluPi, {PLUGS} plugs, recorder") as hass,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        progress(f"recorder: Home Assistant pid {hass.pid} on {hass.base}")
        token = await onboard(hass, session)
        await add_balupi(hass, session, token, farm)
        api = Api(hass, session, token)
        entry_id = await api.entry_id("balupi")
        await api.set_options(entry_id, _options(), nas_plug=plug_mac(0))
        progress(f"recorder: plugs read every {POLL} s; warming up for {WARM_UP:g} s")
        await asyncio.sleep(WARM_UP)

        def alive() -> None:
            if not hass.alive():
                raise BenchError(f"{hass.label}: Home Assistant exited")

        alive()
        path = hass.config_dir / DATABASE
        first = await asyncio.to_thread(_read, path, None)
        before = await farm.stats()
        progress(
            f"recorder: database {_mb(first.size)}; recording for "
            f"{settings.recorder_minutes:g} min"
        )
        await _record(settings.recorder_minutes, alive)
        last = await asyncio.to_thread(_read, path, first.marks)
        after = await farm.stats()
        total_power = await _total_power(api)
    requests = [b - a for a, b in zip(before.requests, after.requests, strict=True)]
    return Window(first, last, requests, total_power)


async def run(settings: Settings) -> list[Row]:
    """Measure the recorder's growth with BaluPi and PLUGS varying plugs."""
    window = await _measure(settings)
    first, last = window.first, window.last
    seconds = last.at - first.at
    polls = seconds / POLL
    per_day = DAY / seconds
    scale = POLL / DEFAULT_POLL
    rows = _classify(last.states_by_entity)
    new_states = sum(last.states_by_entity.values())
    if rows.power == 0 or new_states == 0:
        raise BenchError("the recorder wrote no plug states in the window")
    grown_states = _bytes(last, STATE_TABLES) - _bytes(first, STATE_TABLES)
    per_state = grown_states / new_states
    short_term_rows = _rows(last, "statistics_short_term")
    if short_term_rows == 0 or last.plug_statistics == 0:
        raise BenchError(
            "the recorder compiled no short-term statistics: record for longer "
            "(--recorder-minutes 11 covers two 5-minute periods)"
        )
    # Few statistics rows fill few pages, so whole pages would overstate a row: take
    # the bytes in use per row, and the pages' fill as the many state rows show it.
    fill = _used(last, STATE_TABLES) / _bytes(last, STATE_TABLES)
    statistic_used = _used(last, ("statistics_short_term",)) / short_term_rows
    per_statistic = statistic_used / fill
    sensors = last.plug_statistics / PLUGS
    new_events = sum(last.events_by_type.values())
    event_rows = _rows(last, "events")
    per_event = _used(last, EVENT_TABLES) / fill / event_rows if event_rows else 0.0

    poll_rows_day = rows.per_poll / PLUGS * per_day * scale
    energy_rows_day = rows.per_energy / PLUGS * per_day
    states_day = (poll_rows_day + energy_rows_day) * per_state
    statistics_rows_day = sensors * (SHORT_TERM_PER_DAY + HOURLY_PER_DAY)
    statistics_day = statistics_rows_day * per_statistic
    hourly_day = sensors * HOURLY_PER_DAY * per_statistic
    events_day = new_events * per_event / PLUGS * per_day
    total_day = states_day + statistics_day + events_day
    kept = KEEP_DAYS * (states_day + sensors * SHORT_TERM_PER_DAY * per_statistic)
    events = ", ".join(f"{kind} {n}" for kind, n in last.events_by_type.most_common())
    polled = sum(count > 0 for count in window.requests)
    reads = sum(window.requests) / PLUGS / REQUESTS_PER_READ
    if reads < 0.9 * polls:
        # The figures are extrapolated from POLL: they would be wrong.
        raise BenchError(
            f"recorder: the plugs were read about {reads:.0f} times each in "
            f"{seconds:.0f} s, not every {POLL} s: the options did not apply"
        )
    drawn = (
        f"these plugs drew {window.total_power / PLUGS:.0f} W on average, the NAS's 45"
        if window.total_power is not None
        else "the NAS's plug draws 45 W"
    )
    progress(
        f"recorder: {new_states} state rows, {last.short_term_rows} short-term "
        f"statistics rows, {new_events} events in {seconds:.0f} s"
    )
    return [
        Row(
            "Recorded window",
            f"{seconds / 60:.1f} min, {PLUGS} plugs",
            f"Between the two readings of the database; {PLUGS} plugs (one powering "
            f"the NAS) read every {POLL} s ({polls:.0f} polls each; the plugs "
            f"served {reads:.1f} reads each), their power and voltage moving every "
            f"second (bench.farm --vary); {polled} of {PLUGS} plugs answered "
            "requests meanwhile.",
        ),
        Row(
            "New state rows (measured)",
            f"{new_states}",
            f"{rows.per_poll} per poll (the plugs' power, voltage and current, BaluPi's "
            f"total power and month estimate), {rows.per_energy} per watt-hour (the "
            "plugs' energy today and this month, BaluPi's cost today and this month), "
            f"{rows.other} of the NAS and Home Assistant itself. Power rows per plug: "
            f"{rows.power / PLUGS:.1f} for {polls:.1f} polls.",
        ),
        Row(
            "Bytes per new state row (measured)",
            f"{per_state:.0f} B",
            f"The states, state_attributes and states_meta tables with their indexes "
            f"grew by {_kb(grown_states)} (dbstat, whole pages), divided by the new "
            "state rows.",
        ),
        Row(
            "Short-term statistics (measured)",
            f"{_count(last.short_term_rows, 'row')}, "
            f"{_count(last.short_term_periods, 'period')}",
            f"Rows the 5-minute compiles added in the window, {last.short_term_plug_rows} "
            f"of them for the plugs: {last.plug_statistics} plug sensors with a state "
            f"class ({sensors:g} per plug). The table's {short_term_rows} rows use "
            f"{statistic_used:.0f} B each with their index entries (dbstat, without "
            f"free space); / {fill:.2f}, the fill of the state tables' pages = "
            f"{per_statistic:.0f} B per row on disk.",
        ),
        Row(
            "Events (measured)",
            _count(new_events, "row"),
            "Rows in the events table in the window (state changes go to the states "
            f"table, not here){': ' + events if events else ''}. With event_data and "
            f"event_types, {per_event:.0f} B per event on disk (bytes in use / "
            f"{fill:.2f}).",
        ),
        Row(
            "Database growth (measured)",
            f"{_kb(last.size - first.size)} in {seconds / 60:.1f} min",
            f"page_count * page_size, the write-ahead log included: the whole "
            f"instance with {PLUGS} plugs at {POLL} s (from {_mb(first.size)}; free "
            f"pages {_kb(last.free)}).",
        ),
        Row(
            f"States per plug per day at {DEFAULT_POLL} s",
            _mb(states_day),
            f"({rows.per_poll} / {PLUGS} * {DAY} / {seconds:.0f} * {POLL} / "
            f"{DEFAULT_POLL} = {poll_rows_day:.0f} rows with the polls + "
            f"{rows.per_energy} / {PLUGS} * {DAY} / {seconds:.0f} = "
            f"{energy_rows_day:.0f} rows with the watt-hours, as measured) * "
            f"{per_state:.0f} B. Rows per poll scale with "
            "the interval; rows per watt-hour with the plug's power, at most one per "
            f"poll ({drawn}).",
        ),
        Row(
            "Statistics per plug per day",
            _kb(statistics_day),
            f"{sensors:g} sensors * ({SHORT_TERM_PER_DAY} short-term + "
            f"{HOURLY_PER_DAY} hourly rows) * {per_statistic:.0f} B; independent of "
            f"the poll interval. The hourly part, {_kb(hourly_day)} a day, is never "
            "purged.",
        ),
        Row(
            "Events per plug per day",
            _kb(events_day),
            f"{new_events} / {PLUGS} * {DAY} / {seconds:.0f} * {per_event:.0f} B: all "
            "of the instance's events put on the plugs, though they come with the "
            "statistics runs, not with the plugs.",
        ),
        Row(
            f"Total per plug per day at {DEFAULT_POLL} s",
            _mb(total_day),
            f"States + statistics + events (MB = 10^6 bytes). With the default "
            f"purge_keep_days ({KEEP_DAYS}) the states and short-term statistics "
            f"level off at about {_mb(kept)} per plug; the hourly statistics grow by "
            f"{_mb(hourly_day * 365)} a year.",
        ),
    ]


SECTION = Section(
    name="recorder",
    title=f"Recorder: database growth with BaluPi and {PLUGS} plugs",
    run=run,
    quick=False,
)
