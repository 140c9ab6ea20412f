"""The machine the figures were measured on, as table rows."""

from __future__ import annotations

from importlib import metadata
import os
from pathlib import Path
import platform

from .common import Row


def _cpuinfo_field(name: str) -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _memory_total() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "unknown"
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_rows() -> list[Row]:
    """CPU, cores, memory, load and the versions that matter for the figures."""
    usable = len(os.sched_getaffinity(0))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        Row(
            "CPU",
            _cpuinfo_field("model name") or platform.processor() or "unknown",
            f"Model name in /proc/cpuinfo ({platform.machine()}).",
        ),
        Row(
            "Cores",
            f"{os.cpu_count()} ({usable} usable)",
            "Logical CPUs, and those this process may run on.",
        ),
        Row("RAM", _memory_total(), "MemTotal in /proc/meminfo."),
        Row(
            "Load average at start",
            load,
            "1, 5 and 15 minutes: the machine may be shared, figures vary with it.",
        ),
        Row(
            "Python",
            platform.python_version(),
            f"{platform.python_implementation()} running the benchmark and HA.",
        ),
        Row("Home Assistant", _version("homeassistant"), "Installed release."),
        Row("python-kasa", _version("python-kasa"), "Talks to the plugs."),
        Row("aiohttp", _version("aiohttp"), "HTTP for python-kasa and HA."),
    ]
