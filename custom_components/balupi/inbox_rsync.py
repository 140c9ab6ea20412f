"""The rsync transport of the inbox flush: the ``rsync`` and ``ssh`` binaries.

Plain Python, no Home Assistant. What the old Pi did, made safe:

* A preflight (``rsync --list-only -d -L user@host:/path``) checks that the remote
  inbox is an existing directory and maps ssh's refusals (key, host key, no
  connection) to their errors before anything moves.
* The transfer is ``rsync -rt --ignore-existing --remove-source-files``: rsync's
  default temp file plus rename (never ``--inplace``/``--partial``), so nothing
  partial appears under a final name; the sender deletes a source file only after the
  receiver confirmed it, and not if its size or mtime changed meanwhile (rsync's own
  check; the NAS then has the earlier version and the file is reported).
  ``--ignore-existing`` never replaces a file on the NAS, and leaves the local one.
  (It decides when rsync reaches the file: a file of the same name written on the
  NAS by someone else *while ours is being sent* would still be replaced by rsync's
  rename. The SFTP transport's rename cannot replace anything.)
* Files that stayed and whose name exists on the NAS are compared by a dry run with
  ``--checksum`` (content, not time): identical ones are deleted here (counted in
  ``already_on_nas``), different ones are reported (``CLASH``).
* Transferred = gone from the inbox *and* itemized as sent (``<f``): rsync itemizes
  a file when it has sent it, not when the NAS has it, so the lines alone overcount
  when the NAS fails to write.

ssh runs with ``-F /dev/null``, only our key, a known_hosts file holding only the
pinned key and ``BatchMode``: nothing is asked, nothing from ``~/.ssh`` is used.
The key and known_hosts files live in ``workdir`` for the run only. A killed
connection can leave rsync's own temp file (``.NAME.XXXXXX``) on the NAS; those are
not removed (they cannot be told from a user's files), but never block a later run.
No ``--fsync``: a NAS rsync older than 3.2.4 would refuse the option, so durability
is the NAS's filesystem's, as with the old Pi. A cancelled flush kills rsync and its
ssh (one process group); the NAS's rsync then drops its temp file.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
import signal

from .inbox_base import (
    CHANGED,
    CLASH,
    FlushFailure,
    FlushResult,
    InboxError,
    LocalFile,
    RemotePathError,
    SshAuthError,
    SshHostKeyError,
    SshUnreachableError,
    content_of,
    host_for_url,
    local_files,
    remove_if_unchanged,
    temp_name,
)

ITEM = "RSYNCITEM "
OUT_FORMAT = f"--out-format={ITEM}%i %l %n%L"
CONNECT_TIMEOUT = 10
_SAFE_ARGUMENT = re.compile(r"[A-Za-z0-9/._+@%=,:~-]+")
"""What may go into rsync's ``-e`` string, which rsync splits on spaces."""
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_ITEM_LINE = re.compile(rb"RSYNCITEM (.{11}) (\d+) (.*)")
_ERRNO = re.compile(r" \(\d+\)$")
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


def ssh_command(ssh: str, port: int, key: Path, known_hosts: Path) -> str:
    """The ``-e`` string for rsync: ssh with only our key and the pinned host key."""
    for argument in (ssh, str(key), str(known_hosts)):
        if not _SAFE_ARGUMENT.fullmatch(argument):
            raise InboxError(f"unsafe path for ssh: {argument!r}")
    options = [
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
    folder: Path,
    host: str,
    port: int,
    username: str,
    private_key: str,
    host_key: str,
    root: str,
    workdir: Path,
    timeout: float,
) -> FlushResult:
    """Flush ``folder`` into ``root`` on the NAS with rsync (see the module doc)."""
    rsync, ssh = shutil.which("rsync"), shutil.which("ssh")
    if rsync is None or ssh is None:
        raise InboxError("rsync or ssh is not installed")
    if not workdir.is_absolute():
        raise ValueError(f"workdir must be absolute: {workdir}")
    loop = asyncio.get_running_loop()
    before = await loop.run_in_executor(None, local_files, folder)
    if not before:
        return FlushResult("rsync", 0, 0, (), content_of(before))
    token = temp_name()[len(".balupi-") : -len(".part")]
    secrets = (workdir / f"key-{token}", workdir / f"known_hosts-{token}")
    run = _RsyncRun(
        rsync,
        ssh_command(ssh, port, *secrets),
        folder,
        f"{username}@{host_for_url(host)}:",
        root,
        timeout,
    )
    texts = (private_key, known_hosts_line(host, port, host_key))
    try:
        await loop.run_in_executor(None, _write_secrets, secrets, texts)
        await run.preflight()
        return await run.transfer(before)
    finally:
        await loop.run_in_executor(None, _remove, secrets)


class _RsyncRun:
    def __init__(
        self,
        rsync: str,
        ssh: str,
        folder: Path,
        account: str,
        root: str,
        timeout: float,
    ) -> None:
        self._base = [rsync, "-s", "--no-h", "-e", ssh]
        self._folder = folder
        self._root = root
        self._remote = account + root
        """``user@host:/path``: with ``-s`` the path reaches the NAS as is."""
        self._timeout = max(1, round(timeout))
        self._loop = asyncio.get_running_loop()

    async def preflight(self) -> None:
        """Raise unless the remote inbox is a directory we can log in to."""
        run = await _run([*self._base, "--list-only", "-d", "-L", "--", self._remote])
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

    async def transfer(self, before: list[LocalFile]) -> FlushResult:
        """The transfer itself, then the check of what stayed."""
        run = await _run(
            [
                *self._base,
                "-rt",
                "--ignore-existing",
                "--remove-source-files",
                f"--timeout={self._timeout}",
                OUT_FORMAT,
                "--exclude=.balupi-*.part",
                "--",
                f"{self._folder}/",
                f"{self._remote}/",
            ]
        )
        sent = {
            name: length
            for name, (flags, length) in _items(run.stdout).items()
            if flags[0] == "<"
        }
        after = {
            file.relative: file
            for file in await self._loop.run_in_executor(
                None, local_files, self._folder
            )
        }
        moved = [
            file
            for file in before
            if file.relative in sent
            and (file.relative not in after or after[file.relative].ino != file.ino)
        ]
        stayed = [
            file for file in before if file.relative in after and file not in moved
        ]
        if not moved:
            _raise_ssh_error(run.stderr)
            if run.code not in (0, 23, 24, *_RUN_REASONS):
                raise InboxError(_failed(run))
        reasons = await self._reasons(run, stayed)
        already = 0
        failures: list[FlushFailure] = []
        for file in stayed:
            reason = reasons.get(file.relative)
            if reason is None:
                if await self._loop.run_in_executor(
                    None, remove_if_unchanged, self._folder / file.relative, file
                ):
                    already += 1
                    continue
                reason = CHANGED
            failures.append(FlushFailure(file.relative, reason))
        remaining = await self._loop.run_in_executor(None, local_files, self._folder)
        return FlushResult(
            "rsync",
            len(moved),
            sum(sent[file.relative] for file in moved),
            tuple(failures),
            content_of(remaining),
            already,
        )

    async def _reasons(self, run: _Run, stayed: list[LocalFile]) -> dict[str, str]:
        """Why each file that stayed did; files missing here are on the NAS as is."""
        lines = [
            _unescape(line.encode(errors="surrogateescape"))
            for line in run.stderr.splitlines()
        ]
        reasons: dict[str, str] = {}
        for file in stayed:
            for line in lines:
                if line.endswith(f"changed file: {file.relative}"):
                    reasons[file.relative] = (
                        f"{CHANGED}; the NAS has the earlier version"
                    )
                    break
        unclear = [file for file in stayed if file.relative not in reasons]
        checked: dict[str, str] = {}
        if unclear and run.code in (0, 11, 23, 24):
            checked = await self._compare([file.relative for file in unclear])
        run_reason = _RUN_REASONS.get(run.code, f"not sent (rsync exit {run.code})")
        for file in unclear:
            kind = checked.get(file.relative)
            if kind == "same":
                continue
            if kind == "different":
                reasons[file.relative] = CLASH
            else:
                reasons[file.relative] = (
                    _reason_in(lines, self._needles(file.relative)) or run_reason
                )
        return reasons

    def _needles(self, relative: str) -> tuple[str, ...]:
        """How rsync's error lines quote ``relative`` (remote, local, temp file)."""
        root = self._root
        directory, _, name = relative.rpartition("/")
        temp = f"{root}/{directory}/.{name}." if directory else f"{root}/.{name}."
        return (
            f'"{root}/{relative}"',
            f'"{self._folder}/{relative}"',
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
                "-ii",
                f"--timeout={self._timeout}",
                OUT_FORMAT,
                "--from0",
                "--files-from=-",
                "--",
                f"{self._folder}/",
                f"{self._remote}/",
            ],
            stdin=b"\0".join(os.fsencode(name) for name in relatives),
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


def _remove(paths: tuple[Path, Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _run(argv: list[str], stdin: bytes | None = None) -> _Run:
    """Run ``argv`` (no shell); kill it and its ssh if we are cancelled."""
    env = {key: value for key, value in os.environ.items() if key != "SSH_AUTH_SOCK"}
    env["LC_ALL"] = "C"
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE
        if stdin is not None
        else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = await process.communicate(stdin)
        code = await process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await asyncio.shield(process.wait())
        raise
    return _Run(code, stdout, stderr.decode(errors="surrogateescape"))
