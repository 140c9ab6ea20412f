"""The Pi's inbox folder, flushed to the NAS over SSH.

Plain Python, no Home Assistant, Linux. Two transports, one promise:

* ``rsync`` (``inbox_rsync``): the ``rsync`` and ``ssh`` binaries, as the old Pi did;
* ``sftp`` (``inbox_sftp``): asyncssh, for Home Assistant OS, which has no rsync.

What both guarantee:

* Only settled files are sent: seen unchanged for the settle time (``SettleWatch``)
  and not open for writing by another program. Others wait for a later flush.
* Nothing outside the inbox is read or removed, whatever is swapped for a symlink
  when; only regular files are opened, FIFOs, sockets and devices are reported and
  left alone (``inbox_local``).
* A file leaves the inbox only after it arrived complete on the NAS under its final
  name (written to a temp name first, then renamed) and only if it is still exactly
  what was sent; a partial file never appears under a final name; a different file
  of the same name on the NAS is never replaced (the local one stays and is
  reported; ``inbox_rsync`` names rsync's one race).
* Relative paths are kept (remote folders are created); empty local folders and the
  inbox itself stay; symlinks are neither followed nor sent nor counted.
* A cut connection, refused key, wrong host key, full disk, a killed Home Assistant
  or a stalled NAS leaves every file either whole in the inbox or complete on the
  NAS; the next flush finishes the job. (A cut between the NAS's rename and its
  reply can leave a file in both places; the next flush sees the identical copy and
  removes the local one, counted in ``FlushResult.already_on_nas``.)
* Every step has a bound: a NAS or a disk that stops answering ends the flush.

The NAS's host key is pinned: ``probe_target`` reads it when the user sets up the
connection, every flush insists on it. An inbox with nothing ready needs no
connection at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from .inbox_base import (
    FlushFailure,
    FlushResult,
    FlushTally,
    InboxContent,
    InboxError,
    RemotePathError,
    SshAuthError,
    SshHostKeyError,
    SshTarget,
    SshUnreachableError,
    blocking,
    content_of,
    validate_folder,
    validate_host,
    validate_port,
    validate_remote_path,
    validate_target,
    validate_username,
)
from .inbox_local import Listing, LocalFile, LocalInbox, SettleWatch
from .inbox_rsync import flush_rsync, rsync_available
from .inbox_sftp import flush_sftp, probe

__all__ = [
    "DEFAULT_SETTLE_TIME",
    "TRANSPORTS",
    "FlushFailure",
    "FlushResult",
    "InboxContent",
    "InboxError",
    "InboxScan",
    "RemotePathError",
    "SettleWatch",
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
DEFAULT_SETTLE_TIME = 60
"""Seconds a file must stay unchanged before it is sent: longer than the pauses of a
Samba copy over slow Wi-Fi or a camera's upload between two writes."""


@dataclass(frozen=True, slots=True)
class InboxScan:
    """What is in the inbox, and what of it is ready to go."""

    content: InboxContent
    """Every regular file (those a running flush has taken included)."""
    ready: InboxContent
    """Settled files: the next flush sends them."""
    due_in: float | None
    """Seconds until the next waiting file settles; None when none waits."""
    ready_files: tuple[LocalFile, ...] = ()


def generate_key_pair(comment: str = "balupi") -> tuple[str, str]:
    """A new ed25519 key: (private key, OpenSSH format; ``"ssh-ed25519 AAAA... comment"``)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private = key.export_private_key("openssh").decode()
    public = key.export_public_key("openssh").decode().strip()
    return private, public


def scan_inbox(folder: Path, watch: SettleWatch | None = None) -> InboxScan:
    """The regular files below ``folder`` (recursively), and which have settled.

    Blocking: run it in an executor. A missing folder is empty; symlinks and our own
    temp files are not counted. With ``watch``, this scan counts as one look at the
    files for their settle time.
    """
    validate_folder(folder)
    listing = _listing(folder)
    content = _content(listing)
    if watch is None:
        return InboxScan(content, content_of(listing.files), None, listing.files)
    ready = watch.observe(listing.files)
    return InboxScan(content, content_of(ready), watch.due_in(), tuple(ready))


def _listing(folder: Path) -> Listing:
    with LocalInbox(folder) as local:
        return local.listing()


def _content(listing: Listing) -> InboxContent:
    files = content_of(listing.files)
    return InboxContent(files.files + listing.taken, files.bytes + listing.taken_bytes)


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
    watch: SettleWatch,
    transport: str = "auto",
    workdir: Path,
    timeout: float = 30,
) -> FlushResult:
    """Move every settled file in ``folder`` to ``target`` (see the module doc).

    Args:
        folder: The inbox, an absolute path; a missing folder is empty.
        target: The NAS account, its pinned host key and the remote inbox.
        watch: Which files have settled; this flush's listing counts as a look.
        transport: ``"rsync"``, ``"sftp"`` or ``"auto"``: rsync when the rsync and
            ssh binaries exist, else SFTP.
        workdir: A private directory (created 0700 if missing) where the rsync
            transport keeps the key, known_hosts and its staging folder during a run.
        timeout: Seconds without progress before the NAS counts as gone.

    Returns what moved, what failed, what waits and what is left. Per-file problems
    (a name clash, a full disk, a special file) are failures in the result, as is a
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
    local = await blocking(LocalInbox, folder)
    try:
        listing = await blocking(local.listing)
        if listing.claimed:
            restored = await blocking(local.recover, listing)
            if restored:
                listing = await blocking(local.listing)
        ready = watch.observe(listing.files)
        tally = FlushTally(
            failures=[
                FlushFailure(item.relative, item.reason) for item in listing.special
            ]
        )
        if ready:
            if transport == "rsync":
                await flush_rsync(local, ready, target, root, workdir, timeout, tally)
            else:
                await flush_sftp(local, ready, target, root, timeout, tally)
    finally:
        # Whatever is still taken goes back under its name, even when cancelled.
        await asyncio.shield(blocking(local.close))
    after = await blocking(_listing, folder)
    # What is still there and did not fail was not ready, or not reached.
    failed = {failure.path for failure in tally.failures}
    waiting = [file for file in after.files if file.relative not in failed]
    return FlushResult(
        transport,
        tally.transferred,
        tally.bytes,
        tuple(tally.failures),
        _content(after),
        tally.already,
        content_of(waiting),
    )
