"""The rsync transport of the inbox flush: the ``rsync`` and ``ssh`` binaries.

Plain Python, no Home Assistant, Linux. What the old Pi did, made safe:

* A preflight (``rsync --list-only -d -L user@host:/path``) checks that the remote
  inbox is an existing directory and maps ssh's refusals (key, host key, no
  connection) to their errors before anything moves.
* rsync never reads the inbox by path (a folder swapped for a symlink would lead it
  outside). The settled files are taken (``inbox_local``: moved aside and opened)
  in batches, and a private staging folder in ``workdir`` gets one symlink per file
  to ``/proc/<pid>/fd/<n>``, the descriptor opened for it: rsync ``-L`` reads
  exactly those files.
* The transfer is ``rsync -rtLO --ignore-existing --remove-source-files``: rsync's
  default temp file plus rename (never ``--inplace``/``--partial``), so nothing
  partial appears under a final name; ``--remove-source-files`` removes a staging
  symlink only once the NAS confirmed the file, which is how a file counts as sent.
  The inbox file is then removed only if it is still exactly what was taken and
  nobody has it open for writing; otherwise it goes back (and the NAS has the
  earlier version, reported). ``--ignore-existing`` never replaces a file on the
  NAS. (It decides when rsync reaches the file: a file of the same name written on
  the NAS by someone else *while ours is being sent* would still be replaced by
  rsync's rename. The SFTP transport's rename cannot replace anything.)
* Files whose name exists on the NAS are compared by a dry run with ``--checksum``
  (content, not time): identical ones are removed here (``already_on_nas``),
  different ones are reported (``CLASH``).

ssh runs with ``-F /dev/null``, only our key, a known_hosts file holding only the
pinned key and ``BatchMode``: nothing is asked, nothing from ``~/.ssh`` is used.
The key, known_hosts and staging folder live in ``workdir`` for the run only. A
killed connection can leave rsync's own temp file (``.NAME.`` and six random characters) on the NAS;
those are not removed (they cannot be told from a user's files), but never block a
later run. No ``--fsync``: a NAS rsync older than 3.2.4 would refuse the option, so
durability is the NAS's filesystem's, as with the old Pi. Every rsync run has a
bound (rsync's own ``--timeout`` for a silent NAS, and a deadline from the bytes to
send); a cancelled or overdue run is killed with its ssh (one process group).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import re
import resource
import shutil
import signal
import tempfile

from .inbox_base import (
    CHANGED,
    CLASH,
    FlushFailure,
    FlushTally,
    InboxError,
    RemotePathError,
    SshAuthError,
    SshHostKeyError,
    SshTarget,
    SshUnreachableError,
    blocking,
    host_for_url,
    temp_name,
)
from .inbox_local import LocalFile, LocalInbox, NotReadyError, Taken

ITEM = "RSYNCITEM "
OUT_FORMAT = f"--out-format={ITEM}%i %l %n%L"
CONNECT_TIMEOUT = 10
MIN_RATE = 100 * 1024
"""Bytes per second (at least) a transfer is given before it counts as stuck."""
MIN_BOUND = 60
"""Seconds (at least) an rsync run is given before it counts as stuck."""
STALL_FACTOR = 6
"""An rsync run is given this many inactivity timeouts, at least, before it counts
as stuck (rsync's own ``--timeout`` should have ended it long before)."""
PIPE_GRACE = 1.0
"""Seconds the pipes may stay open after rsync ended."""
CONTROL_PERSIST = 30
"""Seconds the shared SSH connection of a flush stays open after its last use."""
MAX_BATCH = 2000
"""Files (each an open descriptor) per rsync run, at most."""
_SAFE_ARGUMENT = re.compile(r"[A-Za-z0-9/._+@%=,:~-]+")
"""What may go into rsync's ``-e`` string, which rsync splits on spaces."""
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_ITEM_LINE = re.compile(rb"RSYNCITEM (.{11}) (\d+) (.*)")
_ERRNO = re.compile(r" \(\d+\)$")
_LOST = (10, 12, 30, 35, 255)
"""rsync's exit codes for a connection that broke or went silent."""
_RUN_REASONS = {
    10: "connection lost",
    11: "rsync stopped at a write error on the NAS (disk full?)",
    12: "connection lost",
    20: "interrupted",
    30: "the NAS stopped answering",
    35: "the NAS stopped answering",
    255: "connection lost",
}
_SSH_ERRORS: tuple[tuple[str, type[InboxError], str], ...] = (
    ("Host key verification failed", SshHostKeyError, "host key"),
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", SshHostKeyError, "host key"),
    ("Permission denied (publickey", SshAuthError, "key"),
    ("Connection refused", SshUnreachableError, "connection refused"),
    ("timed out", SshUnreachableError, "timed out"),
    ("No route to host", SshUnreachableError, "no route to host"),
    ("Network is unreachable", SshUnreachableError, "network is unreachable"),
    ("Could not resolve hostname", SshUnreachableError, "host name not found"),
    # ssh exits 255 here, but rsync may see the pipe close first and exit 12.
    ("Protocol major versions differ", SshUnreachableError, "protocol"),
)
_SSH_MESSAGES = {
    "protocol": "SSH failed: the NAS's port does not speak SSH 2",
    "stuck": "the NAS stopped answering",
    "host key": "the NAS's host key is not the pinned one",
    "key": "the NAS did not accept the key",
}


@dataclass(frozen=True, slots=True)
class _Run:
    code: int
    stdout: bytes
    stderr: str


def rsync_available() -> bool:
    """Whether the ``rsync`` and ``ssh`` binaries are installed."""
    return shutil.which("rsync") is not None and shutil.which("ssh") is not None


def known_hosts_line(host: str, port: int, host_key: str) -> str:
    """The known_hosts entry pinning ``host_key`` for ``host``:``port``."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {host_key.strip()}\n"


def ssh_command(
    ssh: str, port: int, key: Path, known_hosts: Path, control: Path | None = None
) -> str:
    """The ``-e`` string for rsync: ssh with only our key and the pinned host key.

    With ``control`` (a socket path in a private folder), the runs of one flush share
    one SSH connection: the first one leaves it open for the next (30 s at most).
    """
    paths = [ssh, str(key), str(known_hosts)] + ([str(control)] if control else [])
    for argument in paths:
        if not _SAFE_ARGUMENT.fullmatch(argument):
            raise InboxError(f"unsafe path for ssh: {argument!r}")
    sharing = (
        [
            f"ControlPath={control}",
            "ControlMaster=auto",
            f"ControlPersist={CONTROL_PERSIST}",
        ]
        if control
        else []
    )
    options = [
        *sharing,
        *("-F", "/dev/null", "-p", str(port), "-i", str(key)),
        "IdentitiesOnly=yes",
        "BatchMode=yes",
        f"ConnectTimeout={CONNECT_TIMEOUT}",
        "StrictHostKeyChecking=yes",
        f"UserKnownHostsFile={known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
        "CheckHostIP=no",
        "ServerAliveInterval=15",
        "ServerAliveCountMax=3",
    ]
    words = [ssh]
    for option in options:
        words.extend(("-o", option) if "=" in option else (option,))
    return " ".join(words)


async def flush_rsync(
    local: LocalInbox,
    files: list[LocalFile],
    target: SshTarget,
    root: str,
    workdir: Path,
    timeout: float,
    tally: FlushTally,
) -> None:
    """Send ``files`` (settled) into ``root`` on the NAS with rsync (see the module doc)."""
    rsync, ssh = shutil.which("rsync"), shutil.which("ssh")
    if rsync is None or ssh is None:
        raise InboxError("rsync or ssh is not installed")
    if not workdir.is_absolute():
        raise ValueError(f"workdir must be absolute: {workdir}")
    token = temp_name()[len(".balupi-") : -len(".part")]
    secrets = (workdir / f"key-{token}", workdir / f"known_hosts-{token}")
    stage = workdir / f"stage-{token}"
    account = f"{target.username}@{host_for_url(target.host)}"
    ssh_command(ssh, target.port, *secrets)  # checked before anything is created
    texts = (
        target.private_key,
        known_hosts_line(target.host, target.port, target.host_key),
    )
    # The shared connection's socket: a Unix socket path must stay short, so in a
    # private folder of its own rather than in workdir.
    sockets = Path(await blocking(tempfile.mkdtemp, prefix="balupi-ssh-"))
    control = sockets / "c"
    try:
        run = _RsyncRun(
            rsync,
            ssh_command(ssh, target.port, *secrets, control),
            stage,
            f"{account}:",
            root,
            timeout,
        )
        await blocking(_write_secrets, secrets, texts)
        await run.preflight()
        for batch in _batches(files, await blocking(_batch_size)):
            if not await run.transfer(local, batch, tally):
                break  # the connection broke: the rest waits for the next flush
    finally:
        await asyncio.shield(_end_shared(ssh, control, account))
        await asyncio.shield(blocking(_remove, secrets, stage, sockets))


def _batch_size() -> int:
    """How many files a run may hold open (reads /proc/self/fd: call it in a thread).

    Half the descriptors this process may still open, keeping 256 spare.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = sum(1 for _ in Path("/proc/self/fd").iterdir())
    except OSError:
        in_use = 256
    return max(16, min(MAX_BATCH, (soft - in_use - 256) // 2))


def _batches(files: list[LocalFile], size: int) -> Iterator[list[LocalFile]]:
    """``files`` in runs of ``size``."""
    for start in range(0, len(files), size):
        yield files[start : start + size]


class _RsyncRun:
    def __init__(
        self,
        rsync: str,
        ssh: str,
        stage: Path,
        account: str,
        root: str,
        timeout: float,
    ) -> None:
        self._base = [rsync, "-s", "--no-h", "-e", ssh]
        self._stage = stage
        self._root = root
        self._remote = account + root
        """``user@host:/path``: with ``-s`` the path reaches the NAS as is."""
        self._timeout = max(1, round(timeout))

    async def preflight(self) -> None:
        """Raise unless the remote inbox is a directory we can log in to."""
        run = await _run(
            [*self._base, "--list-only", "-d", "-L", "--", self._remote],
            bound=2 * self._timeout + CONNECT_TIMEOUT,
        )
        path = self._root
        if run.code == 0:
            if not run.stdout.startswith(b"d"):
                raise RemotePathError(f"{path} is not a directory on the NAS")
            return
        _raise_ssh_error(run.stderr)
        if run.code == 255:  # ssh's own failure, none of the known ones
            raise SshUnreachableError(f"SSH failed: {_first_line(run)}")
        if "No such file or directory" in run.stderr:
            raise RemotePathError(f"{path} does not exist on the NAS")
        if "Not a directory" in run.stderr:
            raise RemotePathError(f"{path} is not a directory on the NAS")
        if "Permission denied" in run.stderr:
            raise RemotePathError(f"{path} cannot be read on the NAS")
        raise InboxError(_failed(run))

    async def transfer(
        self, local: LocalInbox, batch: list[LocalFile], tally: FlushTally
    ) -> bool:
        """Send one batch; return False when the connection broke."""
        staged, unreadable = await blocking(_stage, local, batch, self._stage)
        tally.failures.extend(unreadable)
        try:
            return await self._send(local, staged, tally)
        finally:
            # What was not settled above goes back, and the staging folder empties.
            await asyncio.shield(blocking(_unstage, local, staged, self._stage))

    async def _send(
        self, local: LocalInbox, staged: dict[str, Taken], tally: FlushTally
    ) -> bool:
        if not staged:
            return True
        size = sum(taken.file.size for taken in staged.values())
        run = await _run(
            [
                *self._base,
                "-rtLO",
                "--ignore-existing",
                "--remove-source-files",
                f"--timeout={self._timeout}",
                OUT_FORMAT,
                "--",
                f"{self._stage}/",
                f"{self._remote}/",
            ],
            bound=max(STALL_FACTOR * self._timeout, MIN_BOUND) + size / MIN_RATE,
        )
        # A staging link is removed only once the NAS confirmed its file.
        confirmed, stayed = await blocking(_confirmed, self._stage, staged)
        if not confirmed:
            _raise_ssh_error(run.stderr)
            if run.code not in (0, 23, 24, *_RUN_REASONS):
                raise InboxError(_failed(run))
        for relative in confirmed:
            taken = staged[relative]
            if await blocking(local.release, taken, sent=True):
                tally.transferred += 1
                tally.bytes += taken.file.size
            else:
                tally.failures.append(
                    FlushFailure(
                        relative, f"{CHANGED}; the NAS has the earlier version"
                    )
                )
        reasons = await self._reasons(run, stayed)
        for relative in stayed:
            reason = reasons.get(relative)
            if reason is None:  # an identical copy is on the NAS
                if await blocking(local.release, staged[relative], sent=True):
                    tally.already += 1
                    continue
                reason = CHANGED
            else:
                await blocking(local.release, staged[relative], sent=False)
            tally.failures.append(FlushFailure(relative, reason))
        return run.code not in _LOST

    async def _reasons(self, run: _Run, stayed: list[str]) -> dict[str, str | None]:
        """Why each file that stayed did; None for those the NAS has as they are."""
        lines = [
            _unescape(line.encode(errors="surrogateescape"))
            for line in run.stderr.splitlines()
        ]
        reasons: dict[str, str | None] = {}
        for relative in stayed:
            # rsync's own check: the file changed while it was read.
            if any(line.endswith(f"changed file: {relative}") for line in lines):
                reasons[relative] = f"{CHANGED}; the NAS has the earlier version"
        unclear = [relative for relative in stayed if relative not in reasons]
        checked: dict[str, str] = {}
        if unclear and run.code in (0, 11, 23, 24):
            checked = await self._compare(unclear)
        run_reason = _RUN_REASONS.get(run.code, f"not sent (rsync exit {run.code})")
        for relative in unclear:
            kind = checked.get(relative)
            if kind == "same":
                reasons[relative] = None
            elif kind == "different":
                reasons[relative] = CLASH
            else:
                reasons[relative] = (
                    _reason_in(lines, self._needles(relative)) or run_reason
                )
        return reasons

    def _needles(self, relative: str) -> tuple[str, ...]:
        """How rsync's error lines quote ``relative`` (remote, local, temp file)."""
        root = self._root
        directory, _, name = relative.rpartition("/")
        temp = f"{root}/{directory}/.{name}." if directory else f"{root}/.{name}."
        return (
            f'"{root}/{relative}"',
            f'"{self._stage}/{relative}"',
            f'"{relative}"',
            f'"{temp}',
        )

    async def _compare(self, relatives: list[str]) -> dict[str, str]:
        """``"same"`` or ``"different"`` for each name the NAS has (a dry run)."""
        run = await _run(
            [
                *self._base,
                "-n",
                "-c",
                "-L",
                "-ii",
                f"--timeout={self._timeout}",
                OUT_FORMAT,
                "--from0",
                "--files-from=-",
                "--",
                f"{self._stage}/",
                f"{self._remote}/",
            ],
            stdin=b"\0".join(os.fsencode(name) for name in relatives),
            bound=max(STALL_FACTOR * self._timeout, MIN_BOUND),
        )
        found: dict[str, str] = {}
        if run.code != 0:
            return found
        for name, (flags, _) in _items(run.stdout).items():
            if flags[0] == ".":
                found[name] = "same"
            elif "+" not in flags:
                found[name] = "different"
        return found


def _stage(
    local: LocalInbox, batch: list[LocalFile], stage: Path
) -> tuple[dict[str, Taken], list[FlushFailure]]:
    """Take ``batch`` and link each file into ``stage`` through its descriptor."""
    stage.mkdir(mode=0o700, parents=True, exist_ok=True)
    fds = f"/proc/{os.getpid()}/fd"
    staged: dict[str, Taken] = {}
    failures: list[FlushFailure] = []
    for file in batch:
        try:
            taken = local.take(file)
        except NotReadyError:
            continue  # changed, in use or gone since it was listed: later
        except OSError as err:
            failures.append(FlushFailure(file.relative, f"unreadable: {err.strerror}"))
            continue
        link = stage / file.relative
        try:
            link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            link.symlink_to(f"{fds}/{taken.fd}")
        except OSError:
            local.release(taken, sent=False)
            raise
        staged[file.relative] = taken
    return staged, failures


def _confirmed(stage: Path, staged: dict[str, Taken]) -> tuple[list[str], list[str]]:
    """(files the NAS confirmed, files that stayed): a confirmed link is gone."""
    confirmed: list[str] = []
    stayed: list[str] = []
    for relative in staged:
        (stayed if os.path.lexists(stage / relative) else confirmed).append(relative)
    return confirmed, stayed


def _unstage(local: LocalInbox, staged: dict[str, Taken], stage: Path) -> None:
    """Put back what is still taken; empty the staging folder."""
    for taken in staged.values():
        if not taken.done:
            local.release(taken, sent=False)
    shutil.rmtree(stage, ignore_errors=True)


def _items(stdout: bytes) -> dict[str, tuple[str, int]]:
    """The regular files rsync itemized: name → (its 11 flags, its length)."""
    items: dict[str, tuple[str, int]] = {}
    for line in stdout.splitlines():
        match = _ITEM_LINE.fullmatch(line)
        if match is not None and match[1][1:2] == b"f":
            name = os.fsdecode(_unescape_bytes(match[3]))
            items[name] = (match[1].decode(), int(match[2]))
    return items


def _unescape_bytes(raw: bytes) -> bytes:
    r"""Undo rsync's escapes of control characters in names (``\#ooo``, octal)."""
    return _ESCAPE.sub(lambda match: bytes([int(match[1], 8)]), raw)


def _unescape(raw: bytes) -> str:
    return os.fsdecode(_unescape_bytes(raw))


def _reason_in(lines: list[str], needles: tuple[str, ...]) -> str | None:
    """The reason the first rsync error line naming a file gives, if any does."""
    for line in lines:
        if any(needle in line for needle in needles):
            reason = line.rpartition(": ")[2].strip()
            return _ERRNO.sub("", reason) or None
    return None


def _raise_ssh_error(stderr: str) -> None:
    """Raise the error ssh's messages in ``stderr`` name, if any.

    rsync's own lines (which quote file names) are not read.
    """
    for line in stderr.splitlines():
        if line.startswith("rsync"):
            continue
        for text, error, what in _SSH_ERRORS:
            if text in line:
                raise error(_SSH_MESSAGES.get(what, what))


def _failed(run: _Run) -> str:
    if run.code == 127:
        return "the NAS has no rsync"
    return f"rsync failed (exit {run.code}): {_first_line(run)}"


def _first_line(run: _Run) -> str:
    lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


def _write_secrets(paths: tuple[Path, Path], texts: tuple[str, str]) -> None:
    """Write the key and known_hosts files (0600, new) into their private folder."""
    paths[0].parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path, text in zip(paths, texts, strict=True):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(path, flags, 0o600), "w") as file:
            file.write(text if text.endswith("\n") else text + "\n")


def _remove(paths: tuple[Path, Path], *folders: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


async def _end_shared(ssh: str, control: Path, account: str) -> None:
    """Close the flush's shared SSH connection, if one is open."""
    if await blocking(control.exists):
        await _run(
            [
                ssh,
                "-F",
                "/dev/null",
                "-o",
                f"ControlPath={control}",
                "-O",
                "exit",
                account,
            ],
            bound=CONNECT_TIMEOUT,
        )


async def _run(argv: list[str], *, bound: float, stdin: bytes | None = None) -> _Run:
    """Run ``argv`` (no shell) for at most ``bound`` seconds.

    rsync and its ssh are killed (one process group) when we are cancelled or the
    bound passes; an overdue run reads as rsync's own timeout (exit 30). Once rsync
    has ended, the pipes get ``PIPE_GRACE`` seconds to close: a shared connection
    holds them for as long as the NAS keeps its session (a NAS that went silent:
    until the keepalives give up), so what was read by then is what counts.
    """
    env = {key: value for key, value in os.environ.items() if key != "SSH_AUTH_SOCK"}
    env["LC_ALL"] = "C"
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _Protocol(loop),
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    process = asyncio.subprocess.Process(transport, protocol, loop)
    out, err = bytearray(), bytearray()
    readers = {
        asyncio.ensure_future(_read_all(protocol.stdout, out)),
        asyncio.ensure_future(_read_all(protocol.stderr, err)),
    }
    if stdin is not None and process.stdin is not None:
        readers.add(asyncio.ensure_future(_feed(process.stdin, stdin)))
    try:
        async with asyncio.timeout(bound):
            # Not process.wait(): that waits for the pipes to close too.
            await protocol.exited
        if (await asyncio.wait(readers, timeout=PIPE_GRACE))[1]:
            _kill(process)  # whatever of the group still runs
    except TimeoutError:
        _kill(process)
        return _Run(30, b"", "rsync: the NAS stopped answering (BaluPi's deadline)")
    except BaseException:
        _kill(process)
        await asyncio.shield(asyncio.wait({protocol.exited}, timeout=PIPE_GRACE))
        raise
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.wait(readers)
    code = transport.get_returncode()
    return _Run(
        code if code is not None else 30,
        bytes(out),
        err.decode(errors="surrogateescape"),
    )


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The usual stream protocol that also says when the process has ended."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=64 * 1024, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


async def _read_all(stream: asyncio.StreamReader | None, sink: bytearray) -> None:
    while stream is not None and (chunk := await stream.read(64 * 1024)):
        sink += chunk


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        stream.write(data)
        await stream.drain()
        stream.close()


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
