"""Racing writers against the inbox flush, over both transports (property-based).

Hypothesis draws a scenario: writer threads that write records into the inbox (kept
open across pauses of any length, or closed and reopened between short bursts, or
saved under a temporary name and renamed), files another program deletes, folders
swapped for a symlink to a folder outside the inbox, files swapped for a symlink,
FIFOs dropped in, and SSH connections cut, while one to three flushes run on a real
``sshd``. A last flush with nothing going on moves what is left.

After every example:

1. every record any writer wrote is exactly once in the inbox or on the NAS, none
   on the NAS is in a partial file, and a writer's whole file is under its final
   name (the name it had when it closed it, or when it found it taken);
2. nothing outside the inbox was read (no byte of it on the NAS) or changed;
3. no flush took longer than its bound, and none left a hidden folder behind.

Examples per transport: ``BALUPI_INBOX_FUZZ_EXAMPLES`` (default 25), split into
``BALUPI_INBOX_FUZZ_SHARDS`` tests with seeds of their own, so that pytest-xdist can run
them side by side (``.ci/run`` runs 1,000 per transport in 4 shards; the long run is
in docs/reliability.md).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import hashlib
import os
from pathlib import Path
import re
import shutil
import struct
import tempfile
import threading
import time

from hypothesis import HealthCheck, given, seed, settings, strategies as st
import pytest

from custom_components.balupi.inbox import (
    FlushResult,
    InboxError,
    SettleWatch,
    SshTarget,
    flush_inbox,
    rsync_available,
)
from simulators.sshd import SshServer, sshd_available

from .conftest import SSH_PRIVATE_KEY, SSH_PUBLIC_KEY

pytestmark = pytest.mark.skipif(
    not (rsync_available() and sshd_available()),
    reason="needs rsync, ssh and sshd (.ci/run installs them)",
)
EXAMPLES = int(os.environ.get("BALUPI_INBOX_FUZZ_EXAMPLES", "25"))
SHARDS = int(os.environ.get("BALUPI_INBOX_FUZZ_SHARDS", "1"))
PER_SHARD = -(-EXAMPLES // SHARDS)
SHARD_TIMEOUT = 120 + 5 * PER_SHARD
"""Seconds a shard may run: an example takes about a second here; five on a loaded machine."""
FLUSH_BOUND = 60.0
"""Seconds a flush may take here before it counts as hanging."""
MAGIC = b"BPRC"
HEADER = struct.Struct(">4sIII")
"""A record: magic, owner, index, payload length; then the payload."""
STATIC_OWNER = 10_000
"""Owners from here on are files that were in the inbox before the flushes."""
OUTSIDE = b"outside the inbox: never to be sent or touched"
HIDDEN_CLAIM = re.compile(r"\.balupi-[0-9a-f]{16}\.claimed")

stats: Counter[str] = Counter()
"""What the examples did, printed at the end of each test (-s shows it)."""


def record(owner: int, index: int, size: int) -> bytes:
    payload = hashlib.sha256(f"{owner}:{index}".encode()).digest() * (size // 32 + 1)
    return HEADER.pack(MAGIC, owner, index, size) + payload[:size]


def records_in(data: bytes) -> list[tuple[int, int]] | None:
    """The (owner, index) of each record in ``data``; None if it is not whole."""
    found = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            return None
        magic, owner, index, size = HEADER.unpack_from(data, offset)
        body = data[offset + HEADER.size : offset + HEADER.size + size]
        if magic != MAGIC or body != record(owner, index, size)[HEADER.size :]:
            return None
        found.append((owner, index))
        offset += HEADER.size + size
    return found


# -- Scenarios --------------------------------------------------------------------------


@dataclass(frozen=True)
class WriterPlan:
    owner: int
    name: str
    """Relative path; in the inbox root or in ``w/`` (never swapped)."""
    kind: str
    """``hold``: one open file, pauses of any length; ``bursts``: closed and
    reopened between short pauses; ``save``: written as NAME.tmp, then renamed."""
    chunks: tuple[tuple[int, float], ...]
    """(bytes, pause after) per write."""
    start: float
    delete: bool
    """Whether the program deletes its file at the end (its records are withdrawn)."""


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    """``swap_folder``, ``swap_file``, ``fifo`` or ``cut``."""
    target: int


@dataclass(frozen=True)
class Scenario:
    settle: float
    writers: tuple[WriterPlan, ...]
    statics: tuple[tuple[str, int], ...]
    """Files in the inbox before anything starts: (relative path, size)."""
    events: tuple[Event, ...]
    flushes: tuple[float, ...]
    """When each flush starts (one after the other)."""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    settle = draw(st.sampled_from([0.03, 0.06, 0.1]))
    writers = []
    for owner in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["hold", "bursts", "save"]))
        # Bursts pause well within the settle time (the premise of the promise);
        # a writer that keeps its file open may pause for as long as it likes.
        longest = settle / 4 if kind == "bursts" else 1.5 * settle
        chunks = draw(
            st.lists(
                st.tuples(
                    st.integers(1, 300_000),
                    st.floats(0, longest, allow_nan=False),
                ),
                min_size=1,
                max_size=3,
            )
        )
        folder = draw(st.sampled_from(["", "w/"]))
        writers.append(
            WriterPlan(
                owner,
                f"{folder}writer-{owner}.bin",
                kind,
                tuple(chunks),
                draw(st.floats(0, 0.2, allow_nan=False)),
                draw(st.booleans()) and draw(st.booleans()),
            )
        )
    statics = tuple(
        (f"{folder}static-{n}.bin", draw(st.integers(1, 2_000_000)))
        for n, folder in enumerate(
            draw(st.lists(st.sampled_from(["", "v0/", "v1/", "v0/deep/"]), max_size=5))
        )
    )
    events = tuple(
        Event(
            draw(st.floats(0, 0.3, allow_nan=False)),
            draw(st.sampled_from(["swap_folder", "swap_file", "fifo", "cut"])),
            draw(st.integers(0, 9)),
        )
        for _ in range(draw(st.integers(0, 4)))
    )
    flushes = tuple(
        sorted(
            draw(st.lists(st.floats(0, 0.35, allow_nan=False), min_size=1, max_size=2))
        )
    )
    return Scenario(settle, tuple(writers), statics, events, flushes)


# -- Running one -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the writers and the hostile program really did."""

    written: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """Per owner, the records written, in order."""
    final_name: dict[int, str] = field(default_factory=dict)
    withdrawn: set[int] = field(default_factory=set)
    """Owners whose file was deleted (by its program) before any flush took it."""
    split: set[int] = field(default_factory=set)
    """Owners whose reopen came later than the settle time (machine too slow):
    their file may arrive in pieces, each record still exactly once."""
    errors: list[str] = field(default_factory=list)


def run_writer(inbox: Path, plan: WriterPlan, settle: float, outcome: Outcome) -> None:
    time.sleep(plan.start)
    path = inbox / plan.name
    path.parent.mkdir(parents=True, exist_ok=True)
    written = outcome.written.setdefault(plan.owner, [])
    outcome.final_name[plan.owner] = plan.name
    try:
        if plan.kind == "hold":
            with path.open("wb") as file:
                for index, (size, pause) in enumerate(plan.chunks):
                    file.write(record(plan.owner, index, size))
                    file.flush()
                    written.append((plan.owner, index))
                    time.sleep(pause)
        elif plan.kind == "bursts":
            closed_at = None
            for index, (size, pause) in enumerate(plan.chunks):
                if closed_at is not None and time.monotonic() - closed_at >= settle:
                    outcome.split.add(plan.owner)
                with path.open("ab") as file:
                    file.write(record(plan.owner, index, size))
                written.append((plan.owner, index))
                closed_at = time.monotonic()
                time.sleep(pause)
        else:  # save: NAME.tmp, then the rename that makes it final
            temp = path.with_name(path.name + ".tmp")
            with temp.open("wb") as file:
                for index, (size, pause) in enumerate(plan.chunks):
                    file.write(record(plan.owner, index, size))
                    written.append((plan.owner, index))
                    time.sleep(pause)
            try:
                temp.rename(path)
            except FileNotFoundError:  # a flush took it first: it goes as NAME.tmp
                outcome.final_name[plan.owner] = plan.name + ".tmp"
        if plan.delete:
            try:
                path.unlink()
                outcome.withdrawn.add(plan.owner)
            except FileNotFoundError:
                pass  # a flush took it first
    except OSError as err:  # pragma: no cover - a failure of the harness itself
        outcome.errors.append(f"writer {plan.owner}: {err}")


def hostile(
    inbox: Path, outside: Path, event: Event, statics: list[str]
) -> tuple[str, str | None]:
    """Do ``event`` to the inbox: (what was done, the static file it deleted)."""
    if event.kind == "swap_folder":
        folder = inbox / f"v{event.target % 2}"
        if folder.is_symlink() or not folder.is_dir():
            return "swap_folder: none", None
        folder.rename(inbox / f"v{event.target % 2}.moved-{time.monotonic_ns()}")
        folder.symlink_to(outside, target_is_directory=True)
        return "swap_folder", None
    if event.kind == "swap_file":
        roots = [name for name in statics if "/" not in name]
        if not roots:
            return "swap_file: none", None
        name = roots[event.target % len(roots)]
        try:
            (inbox / name).unlink()
        except FileNotFoundError:  # taken by a flush: it goes to the NAS
            return "swap_file: taken", None
        (inbox / name).symlink_to(outside / "secret.txt")
        return "swap_file", name
    if event.kind == "fifo":
        with contextlib.suppress(FileExistsError):
            os.mkfifo(inbox / f"fifo-{event.target}")
        return "fifo", None
    raise AssertionError(event.kind)


async def run_example(
    scenario: Scenario, transport: str, sshd: SshServer, base: Path
) -> None:
    for folder in ("inbox", "nas", "outside", "work"):
        shutil.rmtree(base / folder, ignore_errors=True)
        (base / folder).mkdir(parents=True)
    inbox, nas, outside = base / "inbox", base / "nas", base / "outside"
    (outside / "secret.txt").write_bytes(OUTSIDE)
    (outside / "static-0.bin").write_bytes(OUTSIDE)  # same names as the inbox's
    for folder in ("w", "v0", "v1"):
        (inbox / folder).mkdir()
    statics = []
    static_owners: dict[int, str] = {}
    for n, (name, size) in enumerate(scenario.statics):
        owner = STATIC_OWNER + n
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(record(owner, 0, size))
        statics.append(name)
        static_owners[owner] = name
    outside_before = tree(outside)
    target = SshTarget(
        sshd.host, sshd.port, sshd.user, SSH_PRIVATE_KEY, sshd.host_key, str(nas)
    )
    watch = SettleWatch(scenario.settle)
    outcome = Outcome()
    for owner, name in static_owners.items():
        outcome.written[owner] = [(owner, 0)]
        outcome.final_name[owner] = name
    loop = asyncio.get_running_loop()
    threads = [
        threading.Thread(
            target=run_writer, args=(inbox, plan, scenario.settle, outcome)
        )
        for plan in scenario.writers
    ]
    started = loop.time()
    for thread in threads:
        thread.start()

    def act(event: Event) -> None:
        if event.kind == "cut":
            sshd.cut_connections()
            stats["event cut"] += 1
            return
        done, deleted = hostile(inbox, outside, event, statics)
        stats[f"event {done}"] += 1
        if deleted is not None:
            # Another program deleted that file: its record is withdrawn.
            outcome.withdrawn.add(STATIC_OWNER + statics.index(deleted))

    handles = [loop.call_later(event.at, act, event) for event in scenario.events]
    try:
        for start in scenario.flushes:
            await asyncio.sleep(max(0.0, started + start - loop.time()))
            await timed_flush(inbox, target, watch, transport, base)
        await loop.run_in_executor(None, join_all, threads)
        await asyncio.sleep(max(0.0, started + 0.35 - loop.time()))
    finally:
        for handle in handles:
            handle.cancel()
        await loop.run_in_executor(None, join_all, threads)
    # Nothing goes on any more: move what is left (settled at once).
    calm = SettleWatch(0)
    for _ in range(3):
        result = await timed_flush(inbox, target, calm, transport, base)
        if result is not None and not (
            result.files_transferred or result.already_on_nas
        ):
            break
    assert not outcome.errors, outcome.errors
    check(inbox, nas, outside, outside_before, outcome)


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a writer hangs"


async def timed_flush(
    inbox: Path, target: SshTarget, watch: SettleWatch, transport: str, base: Path
) -> FlushResult | None:
    started = time.monotonic()
    stats["flushes"] += 1
    try:
        result = await asyncio.wait_for(
            flush_inbox(
                inbox,
                target,
                watch=watch,
                transport=transport,
                workdir=base / "work",
                timeout=10,
            ),
            FLUSH_BOUND,
        )
    except TimeoutError:
        pytest.fail(f"a flush hung for {FLUSH_BOUND:g} s")
    except InboxError:
        # A cut while the connection was being made: the flush could not start,
        # which is an outcome like any other (the invariants say what it left).
        stats["flushes that could not start"] += 1
        return None
    stats["files sent"] += result.files_transferred
    stats["files already on the NAS"] += result.already_on_nas
    stats["files waiting"] += result.waiting.files
    stats["failures reported"] += len(result.failures)
    stats["flush milliseconds"] += round(1000 * (time.monotonic() - started))
    return result


# -- The invariants ------------------------------------------------------------------------


def tree(folder: Path) -> dict[str, bytes]:
    """Regular files below ``folder`` (not through symlinks) by relative path."""
    found = {}
    for directory, folders, files in os.walk(folder):
        folders[:] = [
            name for name in folders if not Path(directory, name).is_symlink()
        ]
        for name in files:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def check(
    inbox: Path,
    nas: Path,
    outside: Path,
    outside_before: dict[str, bytes],
    outcome: Outcome,
) -> None:
    # 2. Outside: unchanged, and none of it on the NAS.
    assert tree(outside) == outside_before, "something outside the inbox changed"
    assert sorted(path.name for path in outside.iterdir()) == sorted(outside_before)
    local, remote = tree(inbox), tree(nas)
    for relative, data in remote.items():
        assert OUTSIDE not in data, f"{relative} on the NAS came from outside the inbox"
    # 3. No hidden folder of a flush is left in the inbox.
    for directory, folders, _ in os.walk(inbox):
        for name in folders:
            assert not HIDDEN_CLAIM.fullmatch(name), f"{directory}/{name} left behind"
    # 1. Every record once; NAS files under final names are whole.
    seen: Counter[tuple[int, int]] = Counter()
    where: dict[int, list[tuple[str, str, list[tuple[int, int]]]]] = {}
    for side, files in (("inbox", local), ("nas", remote)):
        for relative, data in files.items():
            if side == "nas" and hidden(relative):
                continue  # a temp file of a cut upload, never under a final name
            found = records_in(data)
            assert found is not None, f"{relative} on the {side} is partial or foreign"
            seen.update(found)
            for owner in {owner for owner, _ in found}:
                where.setdefault(owner, []).append((side, relative, found))
    for owner, written in outcome.written.items():
        expected = 0 if owner in outcome.withdrawn else 1
        for rec in written:
            assert seen[rec] == expected, (
                f"record {rec} is there {seen[rec]} times, not {expected}"
            )
        if expected and owner not in outcome.split:
            places = where.get(owner, [])
            assert len(places) == 1, f"writer {owner} is in pieces: {places}"
            side, relative, found = places[0]
            assert found == written, f"writer {owner}'s file is not whole"
            final = outcome.final_name[owner]
            moved = re.sub(r"^v(\d)\.moved-\d+/", r"v\1/", relative)
            assert moved == final, (
                f"writer {owner} ended as {relative} on the {side}, not {final}"
            )
    extra = set(seen) - {rec for recs in outcome.written.values() for rec in recs}
    assert not extra, f"records nobody wrote: {extra}"


# -- The tests -------------------------------------------------------------------------------


@pytest.fixture
def sshd_server(tmp_path: Path, socket_enabled: None) -> Iterator[SshServer]:
    """The conftest's sshd, started outside any event loop (each example has one)."""
    server = SshServer(tmp_path / "sshd")
    server.authorize(SSH_PUBLIC_KEY)
    asyncio.run(server.start())
    yield server
    server.stop()


@pytest.mark.timeout(SHARD_TIMEOUT)
@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("transport", ["rsync", "sftp"])
def test_racing_writers_lose_nothing_and_reach_nothing_outside(
    transport: str, shard: int, sshd_server: SshServer
) -> None:
    stats.clear()
    base = Path(tempfile.mkdtemp(prefix=f"balupi-fuzz-{transport}-"))
    examples = PER_SHARD

    @seed(1000 * shard + (transport == "sftp"))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(scenario=scenarios())
    def example(scenario: Scenario) -> None:
        stats["examples"] += 1
        asyncio.run(run_example(scenario, transport, sshd_server, base))

    started = time.monotonic()
    try:
        example()
    finally:
        shutil.rmtree(base, ignore_errors=True)
        stats["seconds"] = round(time.monotonic() - started)
        print(  # noqa: T201
            f"\ninbox fuzz, {transport}, shard {shard}: {dict(sorted(stats.items()))}"
        )
    assert stats["examples"] >= examples
    assert stats["flushes"] > stats["examples"]


def test_records_tell_whole_from_partial() -> None:
    data = record(1, 0, 100) + record(1, 1, 5)
    assert records_in(data) == [(1, 0), (1, 1)]
    assert records_in(data[:-1]) is None
    assert records_in(b"x" + data) is None
    assert records_in(OUTSIDE) is None
