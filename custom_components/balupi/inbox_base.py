"""What both inbox transports share: the target, results, errors and checks.

Plain Python, no Home Assistant. The public names are re-exported by ``inbox``; the
Pi's side of the inbox (listing, taking, removing files) is ``inbox_local``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
import functools
import ipaddress
from pathlib import Path
import re
import secrets

import asyncssh

from .inbox_local import LocalFile

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
    waiting: InboxContent = InboxContent(0, 0)
    """Files left for a later flush because they have not settled yet: changed
    within the settle time, or open for writing by another program."""


@dataclass(slots=True)
class FlushTally:
    """What a transport did so far, as it goes."""

    transferred: int = 0
    bytes: int = 0
    already: int = 0
    failures: list[FlushFailure] = field(default_factory=list)


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


def content_of(files: Iterable[LocalFile]) -> InboxContent:
    """How many files and bytes ``files`` are."""
    counted = list(files)
    return InboxContent(len(counted), sum(file.size for file in counted))


LOCAL_TIMEOUT = 120.0
"""Seconds one step on the Pi's own disk (listing the inbox, say) may take."""


async def blocking[**P, R](
    function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run ``function`` (disk work) in the executor; InboxError if it hangs."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(LOCAL_TIMEOUT):
            return await loop.run_in_executor(
                None, functools.partial(function, *args, **kwargs)
            )
    except TimeoutError as err:
        raise InboxError(
            f"the Pi's disk did not answer within {LOCAL_TIMEOUT:g} s"
        ) from err
