"""Run BaluPi's benchmark and print one table of figures (``scripts/bench``).

    scripts/bench                    every section
    scripts/bench --quick            without the slow sections (memory, nas, push,
                                     flood, recorder)
    scripts/bench --section plugs    only the named sections (repeatable)

Progress goes to stderr, the table to stdout. Nothing is asserted: the exit code is
non-zero only when a section could not measure at all.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
import logging
import signal
import sys
import time

from . import flood, flush, memory, nas, plugs, push, recorder
from .common import BenchError, Row, Section, Settings, progress
from .machine import machine_rows
from .table import render

SECTIONS: tuple[Section, ...] = (
    plugs.SECTION,
    flush.SECTION,
    memory.SECTION,
    nas.SECTION,
    push.SECTION,
    flood.SECTION,
    recorder.SECTION,
)
"""Every section, in the order they run; a new section is one more module here."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--section",
        action="append",
        choices=[section.name for section in SECTIONS],
        help="run only this section (repeatable); default: all",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the slow sections: "
        + ", ".join(s.name for s in SECTIONS if not s.quick),
    )
    defaults = Settings()
    parser.add_argument(
        "--cycles",
        type=int,
        default=defaults.cycles,
        help="measured poll cycles per scenario (default %(default)s)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=defaults.latency,
        help="seconds a simulated plug waits per HTTP answer (default %(default)s)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=defaults.settle,
        help="seconds Home Assistant runs before its memory is read "
        "(at least; default %(default)s)",
    )
    parser.add_argument(
        "--recorder-minutes",
        type=float,
        default=defaults.recorder_minutes,
        help="minutes the recorder section records between its two readings of "
        "the database (default %(default)s: two 5-minute statistics periods)",
    )
    args = parser.parse_args()
    if args.cycles < 1 or args.latency < 0 or args.settle < 0:
        parser.error("--cycles must be >= 1, --latency and --settle >= 0")
    if args.recorder_minutes <= 0:
        parser.error("--recorder-minutes must be > 0")
    return args


def _run_async(run: Callable[[], Awaitable[list[Row]]]) -> list[Row]:
    """Run a section in its own event loop; SIGTERM cancels it so it cleans up."""

    async def main() -> list[Row]:
        task = asyncio.ensure_future(run())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled():  # SIGTERM (or Ctrl-C): the section cleaned up
                raise KeyboardInterrupt from None
            raise

    return asyncio.run(main())


def _run_section(section: Section, settings: Settings) -> tuple[list[Row], bool]:
    """The section's rows, or one row saying why it failed."""
    progress(f"section {section.name}: {section.title}")
    started = time.monotonic()
    try:
        rows = _run_async(lambda: section.run(settings))
    except (BenchError, OSError, TimeoutError) as err:
        progress(f"section {section.name} failed: {err}")
        return [Row("FAILED", type(err).__name__, str(err))], False
    took = time.monotonic() - started
    rows.append(Row("Section run time", f"{took:.0f} s", "Wall-clock time."))
    return rows, True


def main() -> int:
    """Run the selected sections and print the table."""
    args = _arguments()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # python-kasa logs a silent plug's timeouts as errors; the table reports them.
    logging.getLogger("kasa").setLevel(logging.CRITICAL)
    settings = Settings(
        cycles=args.cycles,
        latency=args.latency,
        settle=args.settle,
        recorder_minutes=args.recorder_minutes,
    )
    chosen = [
        section
        for section in SECTIONS
        if (args.section is None or section.name in args.section)
        and (section.quick or not args.quick or args.section is not None)
    ]
    started = datetime.now().astimezone()
    groups: list[tuple[str, list[Row]]] = [("Machine", machine_rows())]
    ok = True
    for section in chosen:
        try:
            rows, section_ok = _run_section(section, settings)
        except KeyboardInterrupt:
            progress(f"interrupted in section {section.name}; everything stopped")
            return 130
        groups.append((section.title, rows))
        ok = ok and section_ok
    skipped = [s.name for s in SECTIONS if s not in chosen]
    title = f"BaluPi benchmark, {started:%Y-%m-%d %H:%M %Z}" + (
        f" (skipped: {', '.join(skipped)})" if skipped else ""
    )
    sys.stdout.write(render(title, groups))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
