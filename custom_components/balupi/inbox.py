"""The Pi's inbox folder, flushed to the NAS over SSH.

Plain Python, no Home Assistant. Two transports, one promise:

* ``rsync`` (``inbox_rsync``): the ``rsync`` and ``ssh`` binaries, as the old Pi did;
* ``sftp`` (``inbox_sftp``): asyncssh, for Home Assistant OS, which has no rsync.

What both guarantee: a file leaves the inbox only after it arrived complete on the
NAS under its final name (written to a temp name first, then renamed); a partial
file never appears under a final name; a different file of the same name on the NAS
is never replaced (the local one stays and is reported; ``inbox_rsync`` names rsync's
one race); a file that changed while it was sent stays. Relative paths are kept (remote folders are created); empty local
folders and the inbox itself stay. Symlinks in the inbox are neither followed nor
sent nor counted: they are left alone. A cut connection, refused key, wrong host key
or full disk leaves every file either whole in the inbox or complete on the NAS;
the next flush finishes the job. (A cut between the NAS's rename and its reply can
leave a file in both places; the next flush sees the identical copy and removes the
local one, counted in ``FlushResult.already_on_nas``.)

The NAS's host key is pinned: ``probe_target`` reads it when the user sets up the
connection, every flush insists on it. An empty inbox needs no connection at all.
"""

from __future__ import annotations

from pathlib import Path

import asyncssh

from .inbox_base import (
    FlushFailure,
    FlushResult,
    InboxContent,
    InboxError,
    RemotePathError,
    SshAuthError,
    SshHostKeyError,
    SshTarget,
    SshUnreachableError,
    content_of,
    local_files,
    validate_folder,
    validate_host,
    validate_port,
    validate_remote_path,
    validate_target,
    validate_username,
)
from .inbox_rsync import flush_rsync, rsync_available
from .inbox_sftp import flush_sftp, probe

__all__ = [
    "TRANSPORTS",
    "FlushFailure",
    "FlushResult",
    "InboxContent",
    "InboxError",
    "RemotePathError",
    "SshAuthError",
    "SshHostKeyError",
    "SshTarget",
    "SshUnreachableError",
    "flush_inbox",
    "generate_key_pair",
    "probe_target",
    "rsync_available",
    "scan_inbox",
]

TRANSPORTS = ("auto", "rsync", "sftp")


def generate_key_pair(comment: str = "balupi") -> tuple[str, str]:
    """A new ed25519 key: (private key, OpenSSH format; ``"ssh-ed25519 AAAA... comment"``)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private = key.export_private_key("openssh").decode()
    public = key.export_public_key("openssh").decode().strip()
    return private, public


def scan_inbox(folder: Path) -> InboxContent:
    """The regular files below ``folder`` (recursively) and their total size.

    Blocking: run it in an executor. A missing folder is empty; symlinks and our own
    temp files are not counted.
    """
    validate_folder(folder)
    return content_of(local_files(folder))


async def probe_target(
    host: str,
    port: int,
    username: str,
    private_key: str,
    remote_path: str,
    *,
    timeout: float = 10,
) -> str:
    """Check the account and inbox on the NAS; return its host key line to pin.

    Any host key is accepted here: this is the moment it gets pinned. The key must
    log in, and ``remote_path`` must be an existing directory the account can write
    to (a probe file is created and removed there, over SFTP).

    Raises ValueError for invalid arguments, SshUnreachableError, SshAuthError,
    RemotePathError, or InboxError (e.g. no SFTP on the NAS).
    """
    validate_host(host)
    validate_port(port)
    validate_username(username)
    root = validate_remote_path(remote_path)
    return await probe(host, port, username, private_key, root, timeout)


async def flush_inbox(
    folder: Path,
    target: SshTarget,
    *,
    transport: str = "auto",
    workdir: Path,
    timeout: float = 30,
) -> FlushResult:
    """Move every file in ``folder`` to ``target`` (see the module doc).

    Args:
        folder: The inbox, an absolute path; a missing folder is empty.
        target: The NAS account, its pinned host key and the remote inbox.
        transport: ``"rsync"``, ``"sftp"`` or ``"auto"``: rsync when the rsync and
            ssh binaries exist, else SFTP.
        workdir: A private directory (created 0700 if missing) where the rsync
            transport keeps the key and known_hosts files during a run.
        timeout: Seconds without progress before the NAS counts as gone.

    Returns what moved, what failed and what is left. Per-file problems (a name
    clash, a full disk, a file that changed) are failures in the result, as is a
    connection cut mid-flush.

    Raises ValueError for invalid arguments (before anything runs), SshUnreachableError,
    SshAuthError, SshHostKeyError, RemotePathError, or InboxError when the flush
    could not start.
    """
    validate_folder(folder)
    root = validate_target(target)
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport: {transport!r}")
    if transport == "auto":
        transport = "rsync" if rsync_available() else "sftp"
    arguments = (
        folder,
        target.host,
        target.port,
        target.username,
        target.private_key,
        target.host_key,
        root,
    )
    if transport == "rsync":
        return await flush_rsync(*arguments, workdir, timeout)
    return await flush_sftp(*arguments, timeout)
