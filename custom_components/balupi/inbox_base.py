"""What both inbox transports share: results, errors, checks and the local side.

Plain Python, no Home Assistant. The public names are re-exported by ``inbox``.
"""

from __future__ import annotations

from dataclasses import dataclass
import ipaddress
import os
from pathlib import Path
import re
import secrets

import asyncssh

TEMP_NAME = re.compile(r"\.balupi-[0-9a-f]{16}\.part")
"""Our own temporary files (SFTP uploads in progress): never sent, never counted."""
CLASH = "a different file of that name is already on the NAS"
CHANGED = "changed during the flush"

_HOSTNAME = re.compile(
    r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*"
)
_USERNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_HOST_KEY = re.compile(r"[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}")
_REMOTE_PATH = re.compile(r"(/[A-Za-z0-9._+@%=,~-]+)+")
"""Absolute, without spaces, quotes, control characters or anything a shell reads."""


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Where the inbox goes: an SSH account on the NAS and a directory there."""

    host: str
    """The NAS's address (IP or host name)."""
    port: int
    username: str
    private_key: str
    """OpenSSH private key text (ed25519), as made by ``generate_key_pair``."""
    host_key: str
    """The pinned host public key, one line ``"ssh-ed25519 AAAA..."``."""
    remote_path: str
    """Absolute directory on the NAS, e.g. ``/data/inbox``."""


@dataclass(frozen=True, slots=True)
class InboxContent:
    """Regular files in the inbox (recursively), and their total size."""

    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class FlushFailure:
    """One file that stayed in the inbox, and why."""

    path: str
    """Relative to the inbox, ``/``-separated."""
    reason: str


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush did."""

    transport: str
    """``"rsync"`` or ``"sftp"``."""
    files_transferred: int
    """Files now on the NAS and gone from the inbox."""
    bytes_transferred: int
    """Their total size (file bytes, not bytes on the wire)."""
    failures: tuple[FlushFailure, ...]
    remaining: InboxContent
    """What is still in the inbox afterwards."""
    already_on_nas: int = 0
    """Files removed from the inbox because the NAS had an identical copy (a run
    that was cut after the copy arrived); not counted as transferred."""


class InboxError(Exception):
    """The flush as a whole could not run; ``str()`` says why, briefly."""


class SshUnreachableError(InboxError):
    """No SSH connection: refused, timed out or no route."""


class SshAuthError(InboxError):
    """The NAS did not accept the key (its public key must be added on the NAS)."""


class SshHostKeyError(InboxError):
    """The NAS presented a different host key than the pinned one."""


class RemotePathError(InboxError):
    """The remote inbox directory is missing, not a directory or not writable."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A regular file in the inbox, as seen before it is sent."""

    relative: str
    size: int
    mtime_ns: int
    ino: int


def validate_target(target: SshTarget) -> str:
    """The target's remote path, checked; ValueError for anything ssh must not see."""
    validate_host(target.host)
    validate_port(target.port)
    validate_username(target.username)
    validate_host_key(target.host_key)
    return validate_remote_path(target.remote_path)


def validate_host_key(host_key: str) -> str:
    """``host_key`` if it is one ``"TYPE BASE64"`` public key line; else ValueError."""
    message = "invalid host key: expected 'ssh-ed25519 AAAA...'"
    if not _HOST_KEY.fullmatch(host_key):
        raise ValueError(message)
    try:
        asyncssh.import_public_key(host_key)
    except asyncssh.KeyImportError as err:
        raise ValueError(message) from err
    return host_key


def validate_port(port: int) -> int:
    """``port`` if it is a TCP port number; else ValueError."""
    if isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"invalid port: {port!r}")
    return port


def validate_host(host: str) -> str:
    """``host`` if it is an IP address or a host name; else ValueError."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not (len(host) <= 253 and _HOSTNAME.fullmatch(host)):
            raise ValueError(f"invalid host: {host!r}") from None
    return host


def validate_username(username: str) -> str:
    """``username`` if it is a plain POSIX user name; else ValueError."""
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"invalid user name: {username!r}")
    return username


def validate_remote_path(path: str) -> str:
    """``path`` without a trailing ``/`` if it is a safe absolute path; else ValueError.

    The remote rsync hands the path to the NAS user's shell, so only characters no
    shell reads are allowed: ASCII letters, digits and ``._+@%=,~-``; no ``.`` or
    ``..`` parts, and not ``/`` itself.
    """
    stripped = path.rstrip("/")
    if not _REMOTE_PATH.fullmatch(stripped):
        raise ValueError(f"invalid remote path: {path!r}")
    if any(part in {".", ".."} for part in stripped.split("/")):
        raise ValueError(f"remote path may not contain . or ..: {path!r}")
    return stripped


def validate_folder(folder: Path) -> None:
    """Raise ValueError unless ``folder`` is absolute."""
    if not folder.is_absolute():
        raise ValueError(f"inbox folder must be absolute: {folder}")


def host_for_url(host: str) -> str:
    """``host`` as it goes before ``:`` in ``user@host:path``: IPv6 in brackets."""
    return f"[{host}]" if ":" in host else host


def temp_name() -> str:
    """A fresh name for one upload in progress (see ``TEMP_NAME``)."""
    return f".balupi-{secrets.token_hex(8)}.part"


def local_files(folder: Path) -> list[LocalFile]:
    """The regular files below ``folder``, sorted; blocking.

    Symlinks are neither followed nor listed, nor are our own temp files. A missing
    folder has no files; a subfolder that cannot be read is passed over.
    """
    found: list[LocalFile] = []
    pending: list[tuple[str, str]] = [("", str(folder))]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            if not prefix:
                raise InboxError(f"inbox folder unreadable: {err.strerror}") from err
            continue
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append((relative + "/", entry.path))
            elif entry.is_file(follow_symlinks=False) and not TEMP_NAME.fullmatch(
                entry.name
            ):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                found.append(
                    LocalFile(relative, stat.st_size, stat.st_mtime_ns, stat.st_ino)
                )
    found.sort(key=lambda file: file.relative)
    return found


def content_of(files: list[LocalFile]) -> InboxContent:
    """How many files and bytes ``files`` are."""
    return InboxContent(len(files), sum(file.size for file in files))


def unchanged(path: Path, file: LocalFile) -> bool:
    """Whether ``path`` is still the very file ``file`` was (same inode, size, mtime)."""
    try:
        stat = path.lstat()
    except FileNotFoundError:
        return False
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns) == (
        file.ino,
        file.size,
        file.mtime_ns,
    )


def remove_if_unchanged(path: Path, file: LocalFile) -> bool:
    """Delete ``path`` if it is still ``file``; return whether it was deleted."""
    if not unchanged(path, file):
        return False
    path.unlink()
    return True
