"""What the benchmark's sections share: settings, table rows, helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import statistics
import sys

ROOT = Path(__file__).resolve().parent.parent
"""The repository: custom_components/, simulators/ and scripts/ are found from here."""

TAPO_USERNAME = "user@example.com"
"""The Tapo account the simulated plugs are bound to (and dev_bootstrap uses)."""
TAPO_PASSWORD = "tapo-secret"  # noqa: S105 -- the simulators' made-up account


class BenchError(Exception):
    """A section could not measure what it should; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Options of one benchmark run, from the command line."""

    cycles: int = 5
    """Measured poll cycles per scenario (after one warm-up cycle)."""
    latency: float = 0.05
    """Seconds every simulated plug waits before answering an HTTP request."""
    settle: float = 60.0
    """Seconds Home Assistant runs at least before its memory is read."""
    recorder_minutes: float = 11.0
    """Minutes the recorder records between the two readings of its database
    (11 covers two 5-minute statistics periods)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of the final table."""

    figure: str
    value: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the benchmark: a module exports one as ``SECTION``."""

    name: str
    """What ``--section`` selects it by."""
    title: str
    """Heading of its rows in the table."""
    run: Callable[[Settings], Awaitable[list[Row]]]
    quick: bool = True
    """Whether ``--quick`` runs it (False for the slow sections)."""


def progress(message: str) -> None:
    """Say on stderr what the benchmark is doing (the table goes to stdout)."""
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def python_env() -> dict[str, str]:
    """The environment for child Pythons: the repository root on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def duration(seconds: float) -> str:
    """A duration for the table: milliseconds below a second, else seconds."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return statistics.median(values)


def mib(kib: int) -> str:
    """Kibibytes (as /proc reports them) as MiB for the table."""
    return f"{kib / 1024:.1f} MiB"
