"""The Pi's side of the inbox: listing, taking, putting back and settling files.

Real files, FIFOs, sockets, symlinks and writer processes in a temporary folder; no
NAS needed.
"""

from __future__ import annotations

from collections.abc import Iterator
import errno
import os
from pathlib import Path
import socket
import subprocess
import sys
import time

import pytest

from custom_components.balupi import inbox_local
from custom_components.balupi.inbox import scan_inbox
from custom_components.balupi.inbox_local import (
    MAX_DEPTH,
    LocalFile,
    LocalInbox,
    NotReadyError,
    SettleWatch,
    SpecialFile,
    open_for_writing,
)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the inbox that must never be read or touched."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(b"outside the inbox")
    return folder


@pytest.fixture
def writer(inbox: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another program with ``inbox/open.bin`` open for writing until it ends."""
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import sys; f = open(sys.argv[1], 'ab'); f.write(b'x'); f.flush();"
            " sys.stdin.read()",
            str(inbox / "open.bin"),
        ],
        stdin=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while not (inbox / "open.bin").exists() or not (inbox / "open.bin").stat().st_size:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield process
    if process.stdin is not None:
        process.stdin.close()
    process.wait(10)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def listed(folder: Path) -> inbox_local.Listing:
    with LocalInbox(folder) as local:
        return local.listing()


def take_first(local: LocalInbox) -> inbox_local.Taken:
    (file,) = local.listing().files
    return local.take(file)


# -- Listing ------------------------------------------------------------------------


def test_listing_names_files_and_skips_the_rest(inbox: Path, outside: Path) -> None:
    (inbox / "a.txt").write_bytes(b"aa")
    (inbox / "sub" / "deeper").mkdir(parents=True)
    (inbox / "sub" / "deeper" / "b.txt").write_bytes(b"bbb")
    (inbox / "link").symlink_to(outside / "secret.txt")
    (inbox / "dirlink").symlink_to(outside)
    (inbox / ".balupi-0123456789abcdef.part").write_bytes(b"an upload of ours")
    os.mkfifo(inbox / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(inbox / "sock"))
        found = listed(inbox)
    assert [(f.relative, f.size) for f in found.files] == [
        ("a.txt", 2),
        ("sub/deeper/b.txt", 3),
    ]
    assert found.special == (
        SpecialFile("pipe", "a FIFO, not sent"),
        SpecialFile("sock", "a socket, not sent"),
    )
    assert listed(inbox / "missing").files == ()


def test_listing_stops_at_folders_nested_too_deep(inbox: Path) -> None:
    folder = inbox
    for level in range(MAX_DEPTH + 3):
        folder = folder / f"d{level}"
    folder.mkdir(parents=True)
    (folder / "deep.txt").write_text("deep")
    (inbox / "top.txt").write_text("top")
    found = listed(inbox)
    assert [f.relative for f in found.files] == ["top.txt"]
    assert [item.reason for item in found.special] == ["folders nested too deep"]


def open_descriptors() -> int:
    # Not through os.scandir, which the test below watches.
    return len(os.listdir("/proc/self/fd"))  # noqa: PTH208


def test_a_wide_tree_costs_one_descriptor_per_level(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(300):
        (inbox / f"folder {n:03d}" / "inner").mkdir(parents=True)
        (inbox / f"folder {n:03d}" / "inner" / "f").write_bytes(b"1")
    before = open_descriptors()
    peak = before
    real_scandir = os.scandir

    def scandir(fd: int) -> object:
        nonlocal peak
        peak = max(peak, open_descriptors())
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir)
    assert len(listed(inbox).files) == 300
    assert peak - before < 10
    assert open_descriptors() == before


# -- Taking and releasing -------------------------------------------------------------


def test_a_sent_file_leaves_and_an_unsent_one_goes_back(inbox: Path) -> None:
    (inbox / "sub").mkdir()
    (inbox / "sub" / "a.txt").write_bytes(b"data")
    with LocalInbox(inbox) as local:
        taken = take_first(local)
        # Taken: out of its name (nobody can rename or replace it), still readable.
        assert names(inbox / "sub") == [f".balupi-{local.token}.claimed"]
        assert os.pread(taken.fd, 100, 0) == b"data"
        assert local.release(taken, sent=False) is False
        assert names(inbox / "sub") == [f".balupi-{local.token}.claimed", "a.txt"]
        taken = take_first(local)
        assert local.release(taken, sent=True) is True
        assert local.release(taken, sent=True) is False  # once only
    # Closing removes the hidden folders.
    assert names(inbox / "sub") == []


def test_take_refuses_what_changed_since_the_listing(inbox: Path) -> None:
    (inbox / "a.txt").write_bytes(b"data")
    with LocalInbox(inbox) as local:
        (file,) = local.listing().files
        (inbox / "a.txt").write_bytes(b"more data")
        with pytest.raises(NotReadyError, match="changed since it was listed"):
            local.take(file)
        (inbox / "a.txt").unlink()
        with pytest.raises(NotReadyError, match="vanished"):
            local.take(file)
    assert names(inbox) == []


def test_a_file_open_for_writing_is_not_taken(
    inbox: Path, writer: subprocess.Popen[bytes]
) -> None:
    with LocalInbox(inbox) as local:
        (file,) = local.listing().files
        with pytest.raises(NotReadyError, match="still being written"):
            local.take(file)
    assert names(inbox) == ["open.bin"]
    assert writer.stdin is not None
    writer.stdin.close()
    writer.wait(10)
    with LocalInbox(inbox) as local:
        assert local.release(take_first(local), sent=True)
    assert names(inbox) == []


def test_a_file_opened_for_writing_while_taken_goes_back(inbox: Path) -> None:
    """Sent, but someone opened it meanwhile: it stays (the NAS has it as it was)."""
    (inbox / "a.txt").write_bytes(b"data")
    with LocalInbox(inbox) as local:
        taken = take_first(local)
        claimed = inbox / f".balupi-{local.token}.claimed" / "a.txt"
        with claimed.open("ab"):
            assert local.release(taken, sent=True) is False
    assert names(inbox) == ["a.txt"]


def test_a_changed_file_goes_back_under_a_free_name(inbox: Path) -> None:
    (inbox / "a.txt").write_bytes(b"data")
    with LocalInbox(inbox) as local:
        taken = take_first(local)
        claimed = inbox / f".balupi-{local.token}.claimed" / "a.txt"
        with claimed.open("ab") as file:
            file.write(b"!")
        # A program made a new a.txt meanwhile: it keeps its name.
        (inbox / "a.txt").write_bytes(b"new")
        assert local.release(taken, sent=True) is False
    assert (inbox / "a.txt").read_bytes() == b"new"
    assert (inbox / "a.txt.kept-1").read_bytes() == b"data!"


def test_a_folder_swapped_for_a_symlink_leads_nowhere(
    inbox: Path, outside: Path
) -> None:
    (inbox / "sub").mkdir()
    (inbox / "sub" / "secret.txt").write_bytes(b"inside")
    with LocalInbox(inbox) as local:
        (file,) = local.listing().files
        (inbox / "sub").rename(inbox / "moved")
        (inbox / "sub").symlink_to(outside)
        with pytest.raises(NotReadyError, match="folder changed or vanished"):
            local.take(file)
    assert (outside / "secret.txt").read_bytes() == b"outside the inbox"
    assert names(outside) == ["secret.txt"]


def test_a_file_swapped_for_a_symlink_or_a_fifo_is_not_opened(
    inbox: Path, outside: Path
) -> None:
    (inbox / "a").write_bytes(b"1")
    (inbox / "b").write_bytes(b"2")
    with LocalInbox(inbox) as local:
        a, b = local.listing().files
        (inbox / "a").unlink()
        (inbox / "a").symlink_to(outside / "secret.txt")
        (inbox / "b").unlink()
        os.mkfifo(inbox / "b")  # opening it for reading would block
        for file in (a, b):
            with pytest.raises(NotReadyError, match="no longer a regular file"):
                local.take(file)
    assert (outside / "secret.txt").read_bytes() == b"outside the inbox"


def test_a_file_renamed_onto_the_name_is_not_taken(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program replaces the file between our checks and the move: both stay."""
    (inbox / "a.txt").write_bytes(b"old")
    (inbox / "new.tmp").write_bytes(b"new")
    real = inbox_local.open_for_writing

    def replace_then_check(fd: int) -> bool:
        (inbox / "new.tmp").rename(inbox / "a.txt")
        return real(fd)

    with LocalInbox(inbox) as local:
        (file, _) = local.listing().files
        monkeypatch.setattr(inbox_local, "open_for_writing", replace_then_check)
        with pytest.raises(NotReadyError, match="replaced while it was taken"):
            local.take(file)
    assert (inbox / "a.txt").read_bytes() == b"new"


def test_recover_puts_back_what_a_dead_flush_had_taken(inbox: Path) -> None:
    (inbox / "sub").mkdir()
    for name in ("a.txt", "sub/b.txt"):
        (inbox / name).write_bytes(name.encode())
    dead = LocalInbox(inbox)
    for file in dead.listing().files:
        dead.take(file)
    # The flush dies without closing (Home Assistant killed): the files are hidden.
    inbox_local._active.discard(dead.token)
    assert scan_inbox(inbox).content.files == 2  # still counted
    with LocalInbox(inbox) as local:
        listing = local.listing()
        assert listing.files == ()
        assert listing.taken == 2
        assert local.recover(listing) == 2
        assert [f.relative for f in local.listing().files] == ["a.txt", "sub/b.txt"]
    assert names(inbox) == ["a.txt", "sub"]
    assert names(inbox / "sub") == ["b.txt"]
    dead.close()  # its descriptors (the files are back already)


def test_recover_leaves_a_running_flush_alone(inbox: Path) -> None:
    (inbox / "a.txt").write_bytes(b"a")
    with LocalInbox(inbox) as running:
        taken = take_first(running)
        with LocalInbox(inbox) as other:
            assert other.recover(other.listing()) == 0
        assert running.release(taken, sent=True)
    assert names(inbox) == []


def test_open_for_writing_sees_writers_not_readers(
    inbox: Path, writer: subprocess.Popen[bytes]
) -> None:
    (inbox / "read.bin").write_bytes(b"r")
    with (inbox / "read.bin").open("rb") as reader:
        fd = os.open(inbox / "read.bin", os.O_RDONLY)
        try:
            assert open_for_writing(fd) is False  # a reader does not count
        finally:
            os.close(fd)
        assert reader.read() == b"r"
    fd = os.open(inbox / "open.bin", os.O_RDONLY)
    try:
        assert open_for_writing(fd) is True
    finally:
        os.close(fd)


# -- Settling ---------------------------------------------------------------------------


def _file(relative: str, size: int = 1, ctime: int = 0) -> LocalFile:
    return LocalFile(relative, size, 0, ctime, 1, 1)


def test_a_file_settles_after_the_settle_time_without_change() -> None:
    now = [100.0]
    watch = SettleWatch(60, clock=lambda: now[0])
    assert watch.observe([_file("a")]) == []
    assert watch.due_in() == 60
    now[0] += 30
    assert watch.observe([_file("a", size=2)]) == []  # it grew: the wait restarts
    assert watch.due_in() == 60
    now[0] += 59
    assert watch.observe([_file("a", size=2), _file("b")]) == []
    assert watch.due_in() == 1
    now[0] += 1
    assert watch.observe([_file("a", size=2), _file("b")]) == [_file("a", size=2)]
    # A file that vanished and came back starts again.
    assert watch.observe([_file("b")]) == []
    assert watch.observe([_file("a", size=2), _file("b")]) == []
    now[0] += 60
    assert len(watch.observe([_file("a", size=2), _file("b")])) == 2
    assert watch.due_in() is None


def test_zero_settle_time_means_at_once() -> None:
    watch = SettleWatch(0)
    assert watch.observe([_file("a")]) == [_file("a")]
    assert watch.due_in() is None


def test_a_missing_or_relative_inbox(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        LocalInbox(Path("relative"))
    with LocalInbox(tmp_path / "missing") as local:
        assert local.listing().files == ()
        with pytest.raises(NotReadyError, match="vanished"):
            local.take(_file("a"))


def test_where_no_lease_is_granted_the_settle_time_decides(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem without leases, or another user's file without CAP_LEASE."""
    (inbox / "a").write_bytes(b"a")
    real = inbox_local.fcntl.fcntl
    refused_with = [errno.EINVAL]

    def refuse(fd: int, command: int, arg: int = 0) -> int:
        if command == inbox_local.fcntl.F_SETLEASE:
            raise OSError(refused_with[0], os.strerror(refused_with[0]))
        return real(fd, command, arg)

    monkeypatch.setattr(inbox_local.fcntl, "fcntl", refuse)
    fd = os.open(inbox / "a", os.O_RDONLY)
    try:
        assert open_for_writing(fd) is False
        refused_with[0] = errno.EACCES
        assert open_for_writing(fd) is False
        refused_with[0] = errno.EIO  # anything else is a real failure
        with pytest.raises(OSError, match="Input/output"):
            open_for_writing(fd)
    finally:
        os.close(fd)


def test_putting_back_without_hard_links(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAT-formatted inbox has no hard links: a free name is taken by a rename."""

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    (inbox / "a.txt").write_bytes(b"a")
    (inbox / "b.txt").write_bytes(b"b")
    with LocalInbox(inbox) as local:
        a, b = local.listing().files
        taken_a, taken_b = local.take(a), local.take(b)
        monkeypatch.setattr(os, "link", no_links)
        assert local.release(taken_a, sent=False) is False
        (inbox / "b.txt").write_bytes(b"new b")
        assert local.release(taken_b, sent=False) is False
    assert (inbox / "a.txt").read_bytes() == b"a"
    assert (inbox / "b.txt").read_bytes() == b"new b"
    assert (inbox / "b.txt.kept-1").read_bytes() == b"b"
