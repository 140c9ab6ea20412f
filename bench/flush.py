"""Section "flush": inbox flush throughput over loopback SSH, against plain rsync.

A real OpenSSH ``sshd`` on loopback (``simulators.sshd``) plays the NAS. The inbox
holds ``FILES`` files of ``FILE_SIZE`` random bytes each, and is flushed, side by
side in one run and in turns:

* by plain ``rsync -rt --remove-source-files -e "ssh ..." src/ user@host:dst/`` on
  the command line (the old Pi's way, the yardstick);
* by ``flush_inbox`` with the rsync transport (a preflight connection, then rsync
  with ``--ignore-existing`` and itemized output);
* by ``flush_inbox`` with the SFTP transport (asyncssh, one file after the other,
  temp name, size check, fsync, rename).

Each flush is timed from start to end (connection set-up included) and checked:
every file on the NAS, the inbox empty. The files are hard links to one set of
random files, so refilling the inbox costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import tempfile
import time

from custom_components.balupi.inbox import (
    InboxError,
    SettleWatch,
    SshTarget,
    flush_inbox,
    generate_key_pair,
    rsync_available,
)
from custom_components.balupi.inbox_rsync import known_hosts_line, ssh_command
from simulators.sshd import SshServer, SshServerError

from .common import BenchError, Row, Section, Settings, duration, median, progress

FILES = 100
FILE_SIZE = 1024 * 1024
REPEATS = 3
"""Measured flushes per method (after one warm-up flush each)."""
METHODS = ("plain rsync", "rsync transport", "sftp transport")


@dataclass(slots=True)
class _Setup:
    """The NAS, the inbox and the files of one benchmark run."""

    server: SshServer
    private_key: str
    originals: Path
    inbox: Path
    nas: Path
    workdir: Path
    key_file: Path
    known_hosts: Path


async def run(settings: Settings) -> list[Row]:
    """Flush the inbox REPEATS times per method, the methods taking turns."""
    if not rsync_available():
        raise BenchError("rsync or ssh is not installed")
    with tempfile.TemporaryDirectory(prefix="balupi-bench-flush-") as directory:
        setup = _prepare(Path(directory))
        try:
            await setup.server.start()
        except SshServerError as err:
            raise BenchError(str(err)) from err
        try:
            flushes = {
                "plain rsync": lambda: _plain_rsync(setup),
                "rsync transport": lambda: _transport(setup, "rsync"),
                "sftp transport": lambda: _transport(setup, "sftp"),
            }
            times: dict[str, list[float]] = {method: [] for method in METHODS}
            for repeat in range(REPEATS + 1):
                for method in METHODS:
                    took = await _timed(setup, flushes[method])
                    if repeat:  # the first round warms up the caches
                        times[method].append(took)
                progress(f"flush: round {repeat + 1} of {REPEATS + 1} done")
        finally:
            setup.server.stop()
    return _rows(times)


def _prepare(directory: Path) -> _Setup:
    """Start nothing yet: keys, folders, the random files."""
    private_key, public_key = generate_key_pair("bench")
    server = SshServer(directory / "sshd")
    server.authorize(public_key)
    originals, inbox, nas, workdir = (
        directory / name for name in ("originals", "inbox", "nas", "work")
    )
    for folder in (originals, inbox, nas):
        folder.mkdir()
    for number in range(FILES):
        (originals / f"file {number:03d}.bin").write_bytes(os.urandom(FILE_SIZE))
    key_file = directory / "plain-key"
    key_file.write_text(private_key)
    key_file.chmod(0o600)
    return _Setup(
        server,
        private_key,
        originals,
        inbox,
        nas,
        workdir,
        key_file,
        directory / "plain-known-hosts",
    )


async def _timed(setup: _Setup, flush: Callable[[], Awaitable[None]]) -> float:
    """Seconds one flush of a full inbox takes; checks it moved everything."""
    _refill(setup)
    started = time.perf_counter()
    await flush()
    took = time.perf_counter() - started
    moved = sorted(path.name for path in setup.nas.iterdir())
    left = list(setup.inbox.iterdir())
    if len(moved) != FILES or left:
        raise BenchError(f"flush moved {len(moved)} of {FILES} files, left {left}")
    return took


def _refill(setup: _Setup) -> None:
    """An empty NAS folder and an inbox full of (hard links to) the originals."""
    shutil.rmtree(setup.nas)
    setup.nas.mkdir()
    for original in setup.originals.iterdir():
        os.link(original, setup.inbox / original.name)


async def _transport(setup: _Setup, transport: str) -> None:
    server = setup.server
    target = SshTarget(
        server.host,
        server.port,
        server.user,
        setup.private_key,
        server.host_key,
        str(setup.nas),
    )
    try:
        # Everything counts as settled: the benchmark times the transfer.
        result = await flush_inbox(
            setup.inbox,
            target,
            watch=SettleWatch(0),
            transport=transport,
            workdir=setup.workdir,
        )
    except InboxError as err:
        raise BenchError(f"{transport}: {err}") from err
    if result.failures:
        raise BenchError(f"{transport}: {result.failures[0]}")


async def _plain_rsync(setup: _Setup) -> None:
    """What the old Pi ran: rsync with ssh, nothing around it."""
    server = setup.server
    setup.known_hosts.write_text(
        known_hosts_line(server.host, server.port, server.host_key)
    )
    rsync, ssh = shutil.which("rsync"), shutil.which("ssh")
    if rsync is None or ssh is None:
        raise BenchError("rsync or ssh is not installed")
    process = await asyncio.create_subprocess_exec(
        rsync,
        "-rt",
        "--remove-source-files",
        "-e",
        ssh_command(ssh, server.port, setup.key_file, setup.known_hosts),
        f"{setup.inbox}/",
        f"{server.user}@{server.host}:{setup.nas}/",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BenchError(f"plain rsync failed: {stderr.decode(errors='replace')}")


def _rows(times: dict[str, list[float]]) -> list[Row]:
    megabytes = FILES * FILE_SIZE / 1e6
    plain = median(times["plain rsync"])
    rows = []
    for method in METHODS:
        typical = median(times[method])
        rate = megabytes / typical
        rows.append(
            Row(
                f"{FILES} x 1 MiB, {method}: MB/s (median)",
                f"{rate:.0f} MB/s ({duration(typical)})",
                f"{megabytes:.0f} MB from a full inbox to an empty NAS folder over "
                f"loopback SSH, connection set-up included; median of {REPEATS} "
                f"flushes after a warm-up, the methods taking turns. Runs: "
                + ", ".join(duration(took) for took in times[method])
                + ".",
            )
        )
        if method != "plain rsync":
            rows.append(
                Row(
                    f"{method}: time / plain rsync",
                    f"{typical / plain:.2f}x",
                    "Median flush time over the plain rsync command line's "
                    f"({duration(plain)}); above 1 is slower.",
                )
            )
    return rows


SECTION = Section(
    name="flush",
    title=f"Inbox flush: {FILES} x 1 MiB over loopback SSH, both transports vs. plain rsync",
    run=run,
)
