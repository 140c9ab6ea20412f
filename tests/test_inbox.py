"""The inbox flush against a real OpenSSH sshd on loopback, over both transports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
import hashlib
import os
from pathlib import Path
import stat
import time
from typing import Any

import asyncssh
import pytest

from custom_components.balupi import inbox_local, inbox_rsync, inbox_sftp
from custom_components.balupi.inbox import (
    FlushResult,
    InboxContent,
    InboxError,
    RemotePathError,
    SettleWatch,
    SshAuthError,
    SshHostKeyError,
    SshTarget,
    SshUnreachableError,
    flush_inbox,
    generate_key_pair,
    probe_target,
    rsync_available,
    scan_inbox,
)
from custom_components.balupi.inbox_base import (
    CHANGED,
    CLASH,
    FlushTally,
    validate_host,
    validate_host_key,
)
from custom_components.balupi.inbox_local import Listing, LocalInbox, Taken
from simulators.sshd import SshServer, sshd_available

from .conftest import SSH_PRIVATE_KEY, SSH_PUBLIC_KEY

PRIVATE_KEY, PUBLIC_KEY = SSH_PRIVATE_KEY, SSH_PUBLIC_KEY  # the conftest sshd's
OTHER_PRIVATE_KEY, OTHER_PUBLIC_KEY = generate_key_pair("someone else")
MB = 1024 * 1024
ODD_NAMES = (
    "plain.txt",
    "with space.pdf",
    "-leading-dash",
    "ünïcödé ✓.jpg",
    "new\nline",
    'quote\'s "and" $dollar `tick` ;semi',
    "sub/inner file.txt",
    "sub/deeper/-x",
)

NOW = SettleWatch(0)
"""Every file counts as settled at once (the settle time has its own tests)."""

NOWHERE = SshTarget(
    "127.0.0.1",
    1,
    "baluhost",
    PRIVATE_KEY,
    " ".join(OTHER_PUBLIC_KEY.split()[:2]),
    "/data/inbox",
)
"""A target nothing listens on: for checks that must fail before connecting."""

pytestmark = pytest.mark.skipif(
    not (rsync_available() and sshd_available()),
    reason="needs rsync, ssh and sshd (.ci/run installs them)",
)


@pytest.fixture(params=["rsync", "sftp"])
def transport(request: pytest.FixtureRequest) -> str:
    transport: str = request.param
    return transport


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    """The NAS's inbox directory (the sshd runs on this machine)."""
    folder = tmp_path / "nas" / "inbox"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def target(sshd: SshServer, nas: Path) -> SshTarget:
    return SshTarget(
        sshd.host, sshd.port, sshd.user, PRIVATE_KEY, sshd.host_key, str(nas)
    )


@pytest.fixture
def flush(
    inbox: Path, target: SshTarget, transport: str, tmp_path: Path
) -> Callable[..., asyncio.Future[FlushResult]]:
    """Flush ``inbox`` to ``target`` with the test's transport (overridable)."""

    def run(**changes: object) -> asyncio.Future[FlushResult]:
        options: dict[str, object] = {
            "folder": inbox,
            "target": target,
            "transport": transport,
            "workdir": tmp_path / "work",
            "timeout": 10,
            "watch": SettleWatch(0),
        }
        options.update(changes)
        return asyncio.ensure_future(flush_inbox(**options))  # type: ignore[arg-type]

    return run


def fill(
    folder: Path, names: tuple[str, ...] | list[str], size: int = 1000
) -> dict[str, str]:
    """Write a file of random bytes per name; return name → SHA-256."""
    digests = {}
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size) + name.encode()
        path.write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def tree(folder: Path) -> dict[str, str]:
    """Every regular file below ``folder`` (no symlinks) → SHA-256."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return found


def names(folder: Path) -> list[str]:
    """What is in ``folder`` (not below it), sorted."""
    return sorted(path.name for path in folder.iterdir())


def finals(folder: Path) -> dict[str, str]:
    """Like ``tree`` without hidden temp files (rsync's ``.x.XXXXXX``, our ``.part``)."""
    return {
        name: digest
        for name, digest in tree(folder).items()
        if not name.rpartition("/")[2].startswith(".")
    }


def assert_kept_or_moved(originals: dict[str, str], inbox: Path, nas: Path) -> int:
    """Every file is whole in the inbox or complete on the NAS, never neither.

    Returns how many are in both places (only possible, identical, when a cut falls
    between the NAS's rename and its confirmation; the next run resolves them).
    Whatever is on the NAS under a final name is complete.
    """
    local, remote = tree(inbox), finals(nas)
    assert set(remote) <= set(originals)
    both = 0
    for name, digest in originals.items():
        assert name in local or name in remote, f"{name!r} lost"
        if name in local:
            assert local[name] == digest, f"{name!r} changed in the inbox"
        if name in remote:
            assert remote[name] == digest, f"{name!r} partial on the NAS"
        both += name in local and name in remote
    return both


async def wait_for_temp(nas: Path, timeout: float = 10) -> None:
    """Until a hidden (temp) file with some bytes in it appears in ``nas``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.scandir(nas):
            try:
                if entry.name.startswith(".") and entry.stat().st_size > 0:
                    return
            except FileNotFoundError:  # renamed meanwhile
                continue
        await asyncio.sleep(0.001)
    raise AssertionError("no transfer started")


# -- Keys, scanning, probing --------------------------------------------------------


def test_generate_key_pair() -> None:
    private, public = generate_key_pair("pi@home")
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    kind, data, comment = public.split()
    assert (kind, comment) == ("ssh-ed25519", "pi@home")
    key = asyncssh.import_private_key(private)
    assert key.export_public_key().decode().split()[1] == data


def test_scan_inbox(inbox: Path) -> None:
    assert scan_inbox(inbox / "missing").content == InboxContent(0, 0)
    assert scan_inbox(inbox).content == InboxContent(0, 0)
    fill(inbox, ["a", "sub/b", "sub/deeper/c"], size=100)
    (inbox / "empty").mkdir()
    (inbox / "link").symlink_to(inbox / "a")
    (inbox / "dirlink").symlink_to(inbox / "sub")
    (inbox / ".balupi-0123456789abcdef.part").write_bytes(b"ours, in progress")
    (inbox / ".hidden").write_bytes(b"x")
    assert scan_inbox(inbox).content == InboxContent(4, 3 * 100 + 1 + 5 + 12 + 1)
    with pytest.raises(ValueError, match="absolute"):
        scan_inbox(Path("relative/inbox"))


async def test_probe_returns_the_host_key(sshd: SshServer, nas: Path) -> None:
    host_key = await probe_target(
        sshd.host, sshd.port, sshd.user, PRIVATE_KEY, str(nas)
    )
    assert host_key == sshd.host_key
    assert names(nas) == []  # the probe file is gone


async def test_probe_refuses_an_unknown_key(sshd: SshServer, nas: Path) -> None:
    with pytest.raises(SshAuthError, match="did not accept the key"):
        await probe_target(sshd.host, sshd.port, sshd.user, OTHER_PRIVATE_KEY, str(nas))


async def test_probe_checks_the_remote_directory(sshd: SshServer, nas: Path) -> None:
    with pytest.raises(RemotePathError, match="does not exist"):
        await probe_target(
            sshd.host, sshd.port, sshd.user, PRIVATE_KEY, f"{nas}/missing"
        )
    (nas / "file").write_text("x")
    with pytest.raises(RemotePathError, match="not a directory"):
        await probe_target(sshd.host, sshd.port, sshd.user, PRIVATE_KEY, f"{nas}/file")


async def test_probe_unreachable(sshd: SshServer, nas: Path) -> None:
    sshd.stop()
    with pytest.raises(SshUnreachableError, match="refused"):
        await probe_target(sshd.host, sshd.port, sshd.user, PRIVATE_KEY, str(nas))


async def test_probe_without_sftp(
    tmp_path: Path, nas: Path, socket_enabled: None
) -> None:
    server = SshServer(tmp_path / "plain-sshd", sftp=False)
    server.authorize(PUBLIC_KEY)
    await server.start()
    try:
        with pytest.raises(InboxError, match="no SFTP"):
            await probe_target(
                server.host, server.port, server.user, PRIVATE_KEY, str(nas)
            )
    finally:
        server.stop()


async def test_probe_rejects_bad_arguments(nas: Path) -> None:
    with pytest.raises(ValueError, match="invalid host"):
        await probe_target("-oProxyCommand=x", 22, "baluhost", PRIVATE_KEY, str(nas))
    with pytest.raises(ValueError, match="invalid port"):
        await probe_target("127.0.0.1", 0, "baluhost", PRIVATE_KEY, str(nas))
    with pytest.raises(ValueError, match="invalid user"):
        await probe_target("127.0.0.1", 22, "-l root", PRIVATE_KEY, str(nas))
    with pytest.raises(InboxError, match="private key unreadable"):
        await probe_target("127.0.0.1", 22, "baluhost", "not a key", str(nas))


# -- The flush, both transports -----------------------------------------------------


async def test_flush_moves_everything(
    flush: Callable[..., asyncio.Future[FlushResult]],
    inbox: Path,
    nas: Path,
    transport: str,
) -> None:
    originals = fill(inbox, ODD_NAMES, size=20_000)
    (inbox / "empty folder").mkdir()
    (inbox / "link").symlink_to("/etc/hostname")
    (inbox / "dirlink").symlink_to("/etc")
    size = sum(len(name.encode()) + 20_000 for name in ODD_NAMES)
    assert scan_inbox(inbox).content == InboxContent(len(ODD_NAMES), size)

    result = await flush()

    assert result == FlushResult(
        transport, len(ODD_NAMES), size, (), InboxContent(0, 0)
    )
    assert tree(nas) == originals  # no temp files either
    assert tree(inbox) == {}
    assert scan_inbox(inbox).content == InboxContent(0, 0)
    # Folders, symlinks and the inbox itself stay; symlinks are not sent.
    assert (inbox / "sub" / "deeper").is_dir()
    assert (inbox / "empty folder").is_dir()
    assert (inbox / "link").is_symlink()
    assert (inbox / "dirlink").is_symlink()
    assert not (nas / "link").exists()
    assert not (nas / "dirlink").exists()

    assert await flush() == FlushResult(transport, 0, 0, (), InboxContent(0, 0))


async def test_empty_inbox_needs_no_nas(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
    transport: str,
) -> None:
    sshd.stop()
    (inbox / "sub").mkdir()
    expected = FlushResult(transport, 0, 0, (), InboxContent(0, 0))
    assert await flush() == expected
    assert await flush(folder=inbox / "missing") == expected


async def test_refused_key_moves_nothing(
    flush: Callable[..., asyncio.Future[FlushResult]],
    target: SshTarget,
    inbox: Path,
    nas: Path,
) -> None:
    originals = fill(inbox, ["a", "sub/b"])
    other = replace(target, private_key=OTHER_PRIVATE_KEY)
    with pytest.raises(SshAuthError, match="did not accept the key"):
        await flush(target=other)
    assert tree(inbox) == originals
    assert tree(nas) == {}


async def test_wrong_host_key_moves_nothing(
    flush: Callable[..., asyncio.Future[FlushResult]],
    target: SshTarget,
    inbox: Path,
    nas: Path,
) -> None:
    originals = fill(inbox, ["a", "sub/b"])
    impostor = " ".join(OTHER_PUBLIC_KEY.split()[:2])
    with pytest.raises(SshHostKeyError, match="not the pinned one"):
        await flush(target=replace(target, host_key=impostor))
    assert tree(inbox) == originals
    assert tree(nas) == {}


async def test_nas_down(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
) -> None:
    originals = fill(inbox, ["a"])
    sshd.stop()
    with pytest.raises(SshUnreachableError, match="refused"):
        await flush()
    assert tree(inbox) == originals


async def test_remote_directory_must_exist(
    flush: Callable[..., asyncio.Future[FlushResult]],
    target: SshTarget,
    inbox: Path,
    nas: Path,
) -> None:
    originals = fill(inbox, ["a"])
    missing = replace(target, remote_path=f"{nas}/missing")
    with pytest.raises(RemotePathError, match="does not exist"):
        await flush(target=missing)
    assert not (nas / "missing").exists()
    (nas / "file").write_text("x")
    a_file = replace(target, remote_path=f"{nas}/file")
    with pytest.raises(RemotePathError, match="not a directory"):
        await flush(target=a_file)
    assert tree(inbox) == originals


@pytest.mark.parametrize(
    "remote_path",
    [
        "relative/inbox",
        "/data/../etc",
        "/data/./inbox",
        "/data//inbox",
        "/data/in box",
        "/data/inbox;rm -rf ~",
        "/data/$(reboot)",
        "/data/`id`",
        "/data/new\nline",
        "/data/quote'",
        "/",
        "",
    ],
)
async def test_invalid_remote_path_is_refused_before_anything_runs(
    inbox: Path, tmp_path: Path, remote_path: str
) -> None:
    fill(inbox, ["a"])
    target = replace(NOWHERE, remote_path=remote_path)
    with pytest.raises(ValueError, match="remote path"):
        await flush_inbox(inbox, target, watch=NOW, workdir=tmp_path / "work")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"host": "nas host"}, "invalid host"),
        ({"port": 70000}, "invalid port"),
        ({"username": "-oProxyCommand=x"}, "invalid user"),
        ({"host_key": "ssh-ed25519 AAAA\n@revoked * ssh-ed25519 AAAA"}, "host key"),
    ],
)
async def test_invalid_target_is_refused(
    inbox: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    fill(inbox, ["a"])
    with pytest.raises(ValueError, match=message):
        await flush_inbox(
            inbox, replace(NOWHERE, **change), watch=NOW, workdir=tmp_path
        )


async def test_invalid_arguments(inbox: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        await flush_inbox(Path("inbox"), NOWHERE, watch=NOW, workdir=tmp_path)
    with pytest.raises(ValueError, match="unknown transport"):
        await flush_inbox(inbox, NOWHERE, transport="scp", watch=NOW, workdir=tmp_path)


async def test_name_clash_keeps_both_and_identical_copy_lets_go(
    flush: Callable[..., asyncio.Future[FlushResult]],
    inbox: Path,
    nas: Path,
    transport: str,
) -> None:
    originals = fill(inbox, ["clash", "same", "sub/same too", "new", "sized"])
    (nas / "clash").write_bytes(b"theirs")
    (nas / "sized").write_bytes(b"y" * (inbox / "sized").stat().st_size)  # same size
    (nas / "sub").mkdir()
    for name in ("same", "sub/same too"):
        (nas / name).write_bytes((inbox / name).read_bytes())
        os.utime(nas / name, (0, 0))  # another mtime: content decides

    result = await flush()

    assert sorted((f.path, f.reason) for f in result.failures) == [
        ("clash", CLASH),
        ("sized", CLASH),
    ]
    assert (result.files_transferred, result.already_on_nas) == (1, 2)
    assert result.bytes_transferred == (nas / "new").stat().st_size
    assert tree(inbox) == {name: originals[name] for name in ("clash", "sized")}
    assert (nas / "clash").read_bytes() == b"theirs"
    assert (nas / "sized").read_bytes() == b"y" * len((inbox / "sized").read_bytes())
    assert finals(nas).keys() == {"clash", "same", "sub/same too", "new", "sized"}
    assert result.remaining == scan_inbox(inbox).content


async def test_remote_folder_in_the_way(
    flush: Callable[..., asyncio.Future[FlushResult]], inbox: Path, nas: Path
) -> None:
    originals = fill(inbox, ["sub/a", "b"])
    (nas / "sub").write_text("a file where the folder should be")
    result = await flush()
    assert [failure.path for failure in result.failures] == ["sub/a"]
    assert result.files_transferred == 1
    assert tree(inbox) == {"sub/a": originals["sub/a"]}


async def test_full_disk_keeps_the_files(
    tmp_path: Path, inbox: Path, nas: Path, transport: str, socket_enabled: None
) -> None:
    server = SshServer(tmp_path / "full-sshd", file_size_limit=MB)
    server.authorize(PUBLIC_KEY)
    await server.start()
    target = SshTarget(
        server.host, server.port, server.user, PRIVATE_KEY, server.host_key, str(nas)
    )
    originals = fill(inbox, ["1 small"], size=100_000)
    originals |= fill(inbox, ["2 big"], size=3 * MB)
    originals |= fill(inbox, ["3 small"], size=100_000)
    try:
        result = await flush_inbox(
            inbox,
            target,
            transport=transport,
            watch=NOW,
            workdir=tmp_path / "work",
            timeout=10,
        )
    finally:
        server.stop()
    failed = {failure.path: failure.reason for failure in result.failures}
    assert "2 big" in failed
    # rsync's receiver names the error, unless it exits before the message is out.
    assert failed["2 big"] in {
        "File too large",
        "rsync stopped at a write error on the NAS (disk full?)",
        "the NAS could not write it (disk full?)",
    }
    assert "2 big" in tree(inbox)
    assert "2 big" not in finals(nas)
    assert assert_kept_or_moved(originals, inbox, nas) == 0
    assert result.files_transferred >= 1
    assert result.remaining == scan_inbox(inbox).content


async def test_cut_connection_loses_nothing_and_next_run_finishes(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
    nas: Path,
) -> None:
    originals = fill(inbox, [f"part {n}" for n in range(6)], size=4 * MB)
    running = flush()
    await wait_for_temp(nas)
    assert sshd.cut_connections() > 0
    result = await running
    assert result.failures  # the file in progress, at least
    assert result.failures[0].reason in {"connection lost", "the NAS stopped answering"}
    both = assert_kept_or_moved(originals, inbox, nas)
    assert result.remaining == scan_inbox(inbox).content

    again = await flush()
    assert again.failures == ()
    assert again.already_on_nas == both
    assert result.files_transferred + again.files_transferred + both == len(originals)
    assert tree(inbox) == {}
    assert finals(nas) == originals


@pytest.mark.parametrize("change", ["grow", "rewrite"])
async def test_file_changed_while_sent_stays(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
    nas: Path,
    transport: str,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the kernel grants no lease (another user's file, a filesystem without
    leases), a writer that kept the file open is not seen: the check before the
    delete still finds the change, and the changed file stays."""
    monkeypatch.setattr(inbox_local, "open_for_writing", lambda fd: False)
    fill(inbox, ["changing"], size=24 * MB)
    sent_size = 24 * MB + len(b"changing")
    mode = "ab" if change == "grow" else "r+b"
    with (inbox / "changing").open(mode) as writer:  # opened before the flush
        running = flush()
        await wait_for_temp(nas)
        sshd.pause()
        if change == "grow":
            writer.write(b"more")
        else:  # same size, new content and mtime
            writer.write(b"new start")
            writer.flush()
            os.utime(writer.fileno(), (time.time() + 5, time.time() + 5))
    sshd.resume()
    result = await running
    changed = hashlib.sha256((inbox / "changing").read_bytes()).hexdigest()
    assert len(result.failures) == 1
    assert result.failures[0].path == "changing"
    assert result.failures[0].reason.startswith(CHANGED)
    assert tree(inbox) == {"changing": changed}
    assert result.files_transferred == 0
    if transport == "sftp":
        assert tree(nas) == {}  # the temp file was removed, nothing else written
    else:
        # rsync renames before the change is seen: the NAS has a copy of what was
        # read, the inbox the changed file (reported, never deleted).
        assert (nas / "changing").stat().st_size == sent_size


async def test_nas_that_stops_answering(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
    nas: Path,
) -> None:
    originals = fill(inbox, ["a", "b"], size=16 * MB)
    running = flush(timeout=1)
    await wait_for_temp(nas)
    sshd.pause()
    try:
        result = await asyncio.wait_for(running, 20)
    finally:
        sshd.resume()
        sshd.cut_connections()
    assert result.failures[0].reason in {
        "the NAS stopped answering",
        "connection lost",
    }
    assert assert_kept_or_moved(originals, inbox, nas) == 0


async def test_cancelled_flush_stops_its_transfer(
    flush: Callable[..., asyncio.Future[FlushResult]],
    sshd: SshServer,
    inbox: Path,
    nas: Path,
) -> None:
    originals = fill(inbox, [f"part {n}" for n in range(4)], size=8 * MB)
    running = flush()
    await wait_for_temp(nas)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not _processes_mentioning(str(inbox))
    assert_kept_or_moved(originals, inbox, nas)


# -- Transport specifics ------------------------------------------------------------


async def test_auto_prefers_rsync(
    inbox: Path, target: SshTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await flush_inbox(inbox, target, watch=NOW, workdir=tmp_path / "work")
    assert result.transport == "rsync"
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert not rsync_available()
    result = await flush_inbox(inbox, target, watch=NOW, workdir=tmp_path / "work")
    assert result.transport == "sftp"
    fill(inbox, ["a"])
    with pytest.raises(InboxError, match="not installed"):
        await flush_inbox(
            inbox, target, transport="rsync", watch=NOW, workdir=tmp_path / "work"
        )


async def test_rsync_workdir(inbox: Path, target: SshTarget, tmp_path: Path) -> None:
    fill(inbox, ["a"])
    workdir = tmp_path / "private" / "work"
    result = await flush_inbox(
        inbox, target, transport="rsync", watch=NOW, workdir=workdir
    )
    assert result.files_transferred == 1
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert list(workdir.iterdir()) == []  # key and known_hosts live for one run
    fill(inbox, ["b"])
    with pytest.raises(InboxError, match="unsafe path"):
        await flush_inbox(
            inbox, target, transport="rsync", watch=NOW, workdir=tmp_path / "with space"
        )
    with pytest.raises(ValueError, match="absolute"):
        await flush_inbox(
            inbox, target, transport="rsync", watch=NOW, workdir=Path("work")
        )
    assert tree(inbox).keys() == {"b"}


def test_rsync_known_hosts_and_ssh_command() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
    assert inbox_rsync.known_hosts_line("10.0.0.5", 22, key) == f"10.0.0.5 {key}\n"
    assert (
        inbox_rsync.known_hosts_line("10.0.0.5", 2222, key)
        == f"[10.0.0.5]:2222 {key}\n"
    )
    command = inbox_rsync.ssh_command(
        "/usr/bin/ssh", 2222, Path("/w/key-1"), Path("/w/known_hosts-1")
    )
    assert command.split() == [
        "/usr/bin/ssh",
        *("-F", "/dev/null", "-p", "2222", "-i", "/w/key-1"),
        *("-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"),
        *("-o", "StrictHostKeyChecking=yes"),
        *("-o", "UserKnownHostsFile=/w/known_hosts-1"),
        *("-o", "GlobalKnownHostsFile=/dev/null", "-o", "CheckHostIP=no"),
        *("-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"),
    ]


async def test_sftp_removes_only_stale_temp_files(
    inbox: Path, nas: Path, target: SshTarget, tmp_path: Path
) -> None:
    stale = nas / ".balupi-0123456789abcdef.part"
    fresh = nas / ".balupi-fedcba9876543210.part"
    theirs = nas / ".a-users-file.part"
    for path in (stale, fresh, theirs):
        path.write_bytes(b"left over")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    os.utime(theirs, (time.time() - 3600, time.time() - 3600))
    fill(inbox, ["a"])
    result = await flush_inbox(
        inbox, target, transport="sftp", watch=NOW, workdir=tmp_path
    )
    assert result.files_transferred == 1
    assert not stale.exists()
    assert fresh.exists()
    assert theirs.exists()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


async def test_sftp_sends_nothing_once_the_session_is_gone(
    inbox: Path, nas: Path, sshd: SshServer
) -> None:
    """The first request that finds the SFTP session gone ends the run: later ones
    are refused at once, without being sent (nothing waits for a dead NAS)."""
    async with await inbox_sftp.connect(
        sshd.host, sshd.port, sshd.user, PRIVATE_KEY, sshd.host_key, 10
    ) as conn:
        sftp = await inbox_sftp.start_sftp(conn, 10)
        run = inbox_sftp._SftpRun(
            conn, sftp, LocalInbox(inbox), str(nas), 10, FlushTally()
        )
        root = os.fsencode(nas)
        assert (await run._io(sftp.isdir, root)) is True
        sftp.exit()
        await sftp.wait_closed()
        with pytest.raises(asyncssh.SFTPError):
            await run._io(sftp.isdir, root)
        sent: list[bytes] = []

        async def isdir(path: bytes) -> bool:
            sent.append(path)
            return await sftp.isdir(path)

        with pytest.raises(asyncssh.SFTPConnectionLost):
            await run._io(isdir, root)
        assert sent == []


def test_sftp_reasons() -> None:
    assert inbox_sftp._reason(asyncssh.SFTPPermissionDenied("x")) == (
        "permission denied on the NAS"
    )
    assert inbox_sftp._reason(asyncssh.SFTPNoSpaceOnFilesystem("x")) == (
        "the NAS disk is full"
    )
    assert inbox_sftp._reason(asyncssh.SFTPBadMessage("odd")) == "SFTP error: odd"


# -- Odd peers and races ------------------------------------------------------------


class FakeService:
    """A TCP service on loopback that is no sshd: says ``greeting`` or nothing."""

    def __init__(self, greeting: bytes | None) -> None:
        self.greeting = greeting
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FakeService:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.append(writer)
        if self.greeting is not None:
            writer.write(self.greeting)
            await writer.drain()


async def test_a_service_that_is_not_ssh(
    inbox: Path, tmp_path: Path, transport: str, socket_enabled: None
) -> None:
    fill(inbox, ["a"])
    async with FakeService(b"SSH-1.5-OldServer\r\n") as service:
        target = replace(NOWHERE, port=service.port)
        with pytest.raises(SshUnreachableError, match="SSH failed"):
            await flush_inbox(
                inbox, target, transport=transport, watch=NOW, workdir=tmp_path / "work"
            )
        with pytest.raises(SshUnreachableError, match="SSH failed"):
            await probe_target(
                "127.0.0.1", service.port, "baluhost", PRIVATE_KEY, "/data/inbox"
            )
    assert tree(inbox).keys() == {"a"}


async def test_a_silent_host_times_out(
    inbox: Path, tmp_path: Path, socket_enabled: None
) -> None:
    fill(inbox, ["a"])
    async with FakeService(None) as service:
        target = replace(NOWHERE, port=service.port)
        with pytest.raises(SshUnreachableError, match="no SSH answer within 1 s"):
            await flush_inbox(
                inbox, target, transport="sftp", watch=NOW, workdir=tmp_path, timeout=1
            )
    assert tree(inbox).keys() == {"a"}


async def test_unwritable_remote_directory(
    sshd: SshServer, inbox: Path, tmp_path: Path
) -> None:
    """/proc: a directory where nothing can be created, even by root."""
    with pytest.raises(RemotePathError, match="not writable"):
        await probe_target(sshd.host, sshd.port, sshd.user, PRIVATE_KEY, "/proc")
    fill(inbox, ["a"])
    target = SshTarget(
        sshd.host, sshd.port, sshd.user, PRIVATE_KEY, sshd.host_key, "/proc"
    )
    with pytest.raises(RemotePathError, match="not writable"):
        await flush_inbox(inbox, target, transport="sftp", watch=NOW, workdir=tmp_path)
    # rsync has no cheap probe: the files fail one by one.
    result = await flush_inbox(
        inbox, target, transport="rsync", watch=NOW, workdir=tmp_path
    )
    assert [failure.path for failure in result.failures] == ["a"]
    assert tree(inbox).keys() == {"a"}


async def test_inbox_changing_under_the_flush(
    flush: Callable[..., asyncio.Future[FlushResult]],
    inbox: Path,
    nas: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files deleted or replaced between the listing and their turn are not sent."""
    fill(inbox, ["gone", "now a link", "now a folder", "kept"])
    listing = LocalInbox.listing
    listings = 0

    def listing_then_change(local: LocalInbox) -> Listing:
        nonlocal listings
        found = listing(local)
        listings += 1
        if listings == 1:
            (inbox / "gone").unlink()
            (inbox / "now a link").unlink()
            (inbox / "now a link").symlink_to(inbox / "kept")
            (inbox / "now a folder").unlink()
            (inbox / "now a folder").mkdir()
        return found

    monkeypatch.setattr(LocalInbox, "listing", listing_then_change)
    result = await flush()
    assert finals(nas).keys() == {"kept"}
    assert result.files_transferred == 1
    assert result.failures == ()
    assert result.remaining == InboxContent(0, 0)
    assert (inbox / "now a link").is_symlink()
    assert (inbox / "now a folder").is_dir()


async def test_sftp_never_replaces_a_file_that_appears_meanwhile(
    inbox: Path,
    nas: Path,
    target: SshTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    originals = fill(inbox, ["a"])
    upload = inbox_sftp._SftpRun._upload

    async def upload_while_someone_writes(
        run: inbox_sftp._SftpRun, taken: Taken, temp: bytes
    ) -> None:
        await upload(run, taken, temp)
        (nas / "a").write_bytes(b"written on the NAS meanwhile")

    monkeypatch.setattr(inbox_sftp._SftpRun, "_upload", upload_while_someone_writes)
    result = await flush_inbox(
        inbox, target, transport="sftp", watch=NOW, workdir=tmp_path
    )
    assert [(f.path, f.reason) for f in result.failures] == [("a", CLASH)]
    assert (nas / "a").read_bytes() == b"written on the NAS meanwhile"
    assert tree(inbox) == originals
    assert names(nas) == ["a"]  # no temp file left


# -- Pieces -------------------------------------------------------------------------


def test_host_and_host_key_checks() -> None:
    assert validate_host("nas.local") == "nas.local"
    assert validate_host("fd00::5") == "fd00::5"
    with pytest.raises(ValueError, match="invalid host key"):
        validate_host_key("ssh-ed25519 AAAA")
    with pytest.raises(ValueError, match="invalid host key"):
        validate_host_key(PUBLIC_KEY)  # with a comment: not what gets pinned


def test_scan_survives_a_changing_inbox(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(inbox, ["a", "vanishing", "locked/b"])
    real_scandir = os.scandir

    def scandir(fd: int) -> Any:
        if Path(f"/proc/self/fd/{fd}").readlink().name == "locked":
            raise PermissionError(13, "Permission denied")
        listing = real_scandir(fd)
        (inbox / "vanishing").unlink(missing_ok=True)
        return listing

    monkeypatch.setattr(os, "scandir", scandir)
    assert scan_inbox(inbox).content == InboxContent(1, 1000 + 1)

    def refused(fd: int) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", refused)
    with pytest.raises(OSError, match="Permission denied"):
        scan_inbox(inbox)


@pytest.mark.parametrize(
    ("code", "stderr", "error", "message"),
    [
        (
            23,
            'rsync: link_stat "/x" failed: Permission denied (13)',
            RemotePathError,
            "cannot be read",
        ),
        (
            23,
            'rsync: change_dir "/x" failed: Not a directory (20)',
            RemotePathError,
            "not a directory",
        ),
        (127, "sh: 1: rsync: not found", InboxError, "the NAS has no rsync"),
        (
            12,
            "rsync: protocol version mismatch",
            InboxError,
            r"rsync failed \(exit 12\): rsync: protocol",
        ),
        (2, "", InboxError, r"rsync failed \(exit 2\): no message"),
        (255, "Permission denied (publickey).", SshAuthError, "did not accept"),
        (255, "Host key verification failed.", SshHostKeyError, "pinned"),
        (
            255,
            "ssh: connect to host x port 22: Connection timed out",
            SshUnreachableError,
            "timed out",
        ),
    ],
)
async def test_rsync_preflight_errors(
    inbox: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    stderr: str,
    error: type[Exception],
    message: str,
) -> None:
    fill(inbox, ["a"])

    async def run(
        argv: list[str], *, bound: float, stdin: bytes | None = None
    ) -> inbox_rsync._Run:
        return inbox_rsync._Run(code, b"", stderr)

    monkeypatch.setattr(inbox_rsync, "_run", run)
    with pytest.raises(error, match=message):
        await flush_inbox(
            inbox, NOWHERE, transport="rsync", watch=NOW, workdir=tmp_path
        )
    assert names(tmp_path) == ["inbox"]  # no key, no known_hosts


async def test_rsync_transfer_that_cannot_start(
    inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(inbox, ["a"])
    replies = iter(
        [
            inbox_rsync._Run(0, b"drwxr-xr-x 4096 2026/01/01 00:00:00 inbox\n", ""),
            inbox_rsync._Run(5, b"", "rsync: error starting client-server protocol"),
        ]
    )

    async def run(
        argv: list[str], *, bound: float, stdin: bytes | None = None
    ) -> inbox_rsync._Run:
        return next(replies)

    monkeypatch.setattr(inbox_rsync, "_run", run)
    with pytest.raises(InboxError, match=r"rsync failed \(exit 5\)"):
        await flush_inbox(
            inbox, NOWHERE, transport="rsync", watch=NOW, workdir=tmp_path
        )


async def test_rsync_failed_comparison_keeps_files(
    inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The NAS has a file of that name but the content check fails: keep ours."""
    fill(inbox, ["a"])
    replies = iter(
        [
            inbox_rsync._Run(0, b"drwxr-xr-x 4096 2026/01/01 00:00:00 inbox\n", ""),
            inbox_rsync._Run(0, b"", ""),  # skipped: it exists
            inbox_rsync._Run(12, b"", "rsync: connection unexpectedly closed"),
        ]
    )

    async def run(
        argv: list[str], *, bound: float, stdin: bytes | None = None
    ) -> inbox_rsync._Run:
        return next(replies)

    monkeypatch.setattr(inbox_rsync, "_run", run)
    result = await flush_inbox(
        inbox, NOWHERE, transport="rsync", watch=NOW, workdir=tmp_path
    )
    assert [(f.path, f.reason) for f in result.failures] == [
        ("a", "not sent (rsync exit 0)")
    ]
    assert tree(inbox).keys() == {"a"}
