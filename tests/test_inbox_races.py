"""The inbox under racing writers and hostile swaps, over both transports.

Each test here is a way a file was lost, or a byte from outside the inbox was sent,
or a flush hung, before the flush took files aside and read them by descriptor; a
real ``sshd`` on loopback is the NAS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import hashlib
import os
from pathlib import Path

import pytest

from custom_components.balupi import inbox_rsync
from custom_components.balupi.inbox import (
    FlushResult,
    InboxContent,
    SettleWatch,
    SshTarget,
    flush_inbox,
    rsync_available,
    scan_inbox,
)
from custom_components.balupi.inbox_local import Listing, LocalInbox
from simulators.sshd import SshServer, sshd_available

from .conftest import SSH_PRIVATE_KEY
from .test_inbox import MB, fill, finals, tree, wait_for_temp

pytestmark = pytest.mark.skipif(
    not (rsync_available() and sshd_available()),
    reason="needs rsync, ssh and sshd (.ci/run installs them)",
)
OUTSIDE = b"outside the inbox: never to be sent"


@pytest.fixture(params=["rsync", "sftp"])
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    folder = tmp_path / "nas" / "inbox"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(OUTSIDE)
    return folder


@pytest.fixture
def flush(
    inbox: Path, nas: Path, sshd: SshServer, transport: str, tmp_path: Path
) -> Callable[..., asyncio.Future[FlushResult]]:
    target = SshTarget(
        sshd.host, sshd.port, sshd.user, SSH_PRIVATE_KEY, sshd.host_key, str(nas)
    )

    def run(watch: SettleWatch, **changes: object) -> asyncio.Future[FlushResult]:
        options: dict[str, object] = {
            "watch": watch,
            "transport": transport,
            "workdir": tmp_path / "work",
            "timeout": 10,
            **changes,
        }
        return asyncio.ensure_future(flush_inbox(inbox, target, **options))  # type: ignore[arg-type]

    return run


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_outside_untouched(outside: Path, nas: Path) -> None:
    assert (outside / "secret.txt").read_bytes() == OUTSIDE
    assert digest(OUTSIDE) not in tree(nas).values()


# -- 1. A paused writer ---------------------------------------------------------------


async def test_a_paused_writer_loses_nothing(
    flush: Callable[..., asyncio.Future[FlushResult]], inbox: Path, nas: Path
) -> None:
    """1 MB, a pause (the file stays open), a flush, 1 MB more: all of it arrives."""
    watch = SettleWatch(0.3)
    first, second = os.urandom(MB), os.urandom(MB)
    with (inbox / "scan.pdf").open("wb") as writer:
        writer.write(first)
        writer.flush()
        scan_inbox(inbox, watch)
        await asyncio.sleep(0.5)  # unchanged for longer than the settle time
        result = await flush(watch)
        assert result.files_transferred == 0
        assert result.failures == ()
        assert result.waiting == InboxContent(1, MB)
        assert tree(nas) == {}
        writer.write(second)
    scan_inbox(inbox, watch)
    result = await flush(watch)
    assert result.files_transferred == 0  # changed just now: not settled yet
    await asyncio.sleep(0.5)
    result = await flush(watch)
    assert result.files_transferred == 1
    assert tree(inbox) == {}
    assert finals(nas) == {"scan.pdf": digest(first + second)}


async def test_a_file_written_in_bursts_waits_for_the_settle_time(
    flush: Callable[..., asyncio.Future[FlushResult]], inbox: Path, nas: Path
) -> None:
    """A writer that closes and reopens between bursts is not sent mid-way."""
    watch = SettleWatch(0.5)
    parts = [os.urandom(100_000) for _ in range(3)]
    for part in parts:
        with (inbox / "camera.mp4").open("ab") as writer:
            writer.write(part)
        result = await flush(watch)
        assert result.files_transferred == 0
        assert result.waiting.files == 1
        await asyncio.sleep(0.2)  # a pause shorter than the settle time
    await asyncio.sleep(0.5)
    result = await flush(watch)
    assert result.files_transferred == 1
    assert finals(nas) == {"camera.mp4": digest(b"".join(parts))}


# -- 2. A folder swapped for a symlink ----------------------------------------------------


async def test_a_folder_swapped_for_a_symlink_mid_flush_reads_nothing_outside(
    flush: Callable[..., asyncio.Future[FlushResult]],
    inbox: Path,
    nas: Path,
    outside: Path,
) -> None:
    originals = fill(inbox, ["a big file"], size=24 * MB)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "secret.txt").write_bytes(b"inside")
    running = flush(SettleWatch(0))
    await wait_for_temp(nas)  # the big file is on its way
    (inbox / "sub").rename(inbox / "moved")
    (inbox / "sub").symlink_to(outside)
    result = await running
    assert result.failures == ()
    assert_outside_untouched(outside, nas)
    assert finals(nas)["a big file"] == originals["a big file"]
    # The inside file went as it was named when taken, or waits under its new name.
    again = await flush(SettleWatch(0))
    assert again.failures == ()
    assert_outside_untouched(outside, nas)
    sent = finals(nas)
    assert digest(b"inside") in sent.values()
    assert len([d for d in sent.values() if d == digest(b"inside")]) == 1
    assert tree(inbox) == {}
    assert (inbox / "sub").is_symlink()


async def test_a_file_swapped_for_a_symlink_is_not_followed(
    flush: Callable[..., asyncio.Future[FlushResult]],
    inbox: Path,
    nas: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(inbox, ["a", "b"])
    swap_after_listing(
        monkeypatch,
        lambda: (
            (inbox / "b").unlink(),
            (inbox / "b").symlink_to(outside / "secret.txt"),
        ),
    )
    result = await flush(SettleWatch(0))
    assert result.files_transferred == 1
    assert_outside_untouched(outside, nas)
    assert (inbox / "b").is_symlink()


def swap_after_listing(
    monkeypatch: pytest.MonkeyPatch, swap: Callable[[], object]
) -> None:
    """Run ``swap`` right after the flush's first listing of the inbox."""
    listing = LocalInbox.listing
    done = False

    def listing_then_swap(local: LocalInbox) -> Listing:
        nonlocal done
        found = listing(local)
        if not done:
            done = True
            swap()
        return found

    monkeypatch.setattr(LocalInbox, "listing", listing_then_swap)


# -- 3. Special files ---------------------------------------------------------------------


async def test_special_files_are_reported_and_never_opened(
    flush: Callable[..., asyncio.Future[FlushResult]],
    inbox: Path,
    nas: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FIFO in the inbox, and one swapped in mid-flush: the flush ends anyway."""
    fill(inbox, ["a", "swapped"])
    os.mkfifo(inbox / "pipe")
    swap_after_listing(
        monkeypatch,
        lambda: ((inbox / "swapped").unlink(), os.mkfifo(inbox / "swapped")),
    )
    result = await asyncio.wait_for(flush(SettleWatch(0)), 30)
    assert [(f.path, f.reason) for f in result.failures] == [
        ("pipe", "a FIFO, not sent")
    ]
    assert result.files_transferred == 1
    assert finals(nas).keys() == {"a"}
    assert (inbox / "pipe").is_fifo()
    assert (inbox / "swapped").is_fifo()
    # The next flush reports the FIFOs again and sends nothing.
    again = await asyncio.wait_for(flush(SettleWatch(0)), 30)
    assert [f.path for f in again.failures] == ["pipe", "swapped"]


@pytest.mark.parametrize("transport", ["rsync"])
async def test_an_overdue_rsync_is_stopped(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
    nas: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rsync's own timeout aside, every run has a deadline of BaluPi's."""
    monkeypatch.setattr(inbox_rsync, "STALL_FACTOR", 0)
    monkeypatch.setattr(inbox_rsync, "MIN_BOUND", 3)
    monkeypatch.setattr(inbox_rsync, "MIN_RATE", 10**12)
    originals = fill(inbox, ["a", "b"], size=16 * MB)
    running = flush(SettleWatch(0), timeout=30)
    await wait_for_temp(nas)
    sshd.pause()
    try:
        result = await asyncio.wait_for(running, 20)
    finally:
        sshd.resume()
        sshd.cut_connections()
    assert [f.reason for f in result.failures] == ["the NAS stopped answering"] * 2
    assert tree(inbox) == originals
    assert finals(nas) == {}
