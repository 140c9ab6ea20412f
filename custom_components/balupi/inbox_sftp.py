"""The SFTP transport of the inbox flush, and the SSH connection both sides share.

Plain Python on asyncssh, no Home Assistant, no binaries: what Home Assistant OS
(which has no rsync) uses. One settled file at a time, in path order:

1. If the NAS has a file of that name: an identical one (same size and SHA-256 of
   both contents) lets the local file go (counted in ``already_on_nas``); a
   different one keeps it and is reported (``CLASH``).
2. Otherwise the file is taken (``inbox_local``: moved aside, open for reading) and
   uploaded from that descriptor to a hidden temp name (``.balupi-<hex>.part``,
   opened with ``O_EXCL``) in the same remote directory, flushed to disk when the
   server can (``fsync@openssh.com``), and its remote size compared to the bytes
   sent and to the local size.
3. The local file is checked to be still exactly what was taken; if it changed,
   the temp file is removed and the local file put back (``CHANGED``).
4. The temp file is renamed onto the final name with the plain SFTP rename, which
   never replaces an existing file (OpenSSH does it as ``link()`` + ``unlink()``).
   ``posix-rename`` is deliberately not used: it would replace a file that
   appeared on the NAS meanwhile.
5. Only then is the local file removed (if it is still as taken, and no one has it
   open for writing; otherwise it goes back and is reported).

A cut connection stops the run and is reported as a failure of the file in progress;
the rest stays in the inbox. The NAS may keep a temp file then: temp files older
than twice the inactivity timeout (at least a minute, by the NAS's own clock) are
removed from the directories a later run writes to. If the cut falls between the
rename and its reply, the file is on the NAS and back in the inbox; the next run
finds the identical copy and removes the local one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
import contextlib
import hashlib
import os
import stat
from typing import cast

import asyncssh

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
    temp_name,
)
from .inbox_local import TEMP_NAME, LocalFile, LocalInbox, NotReadyError, Taken

CHUNK = 1024 * 1024
"""Bytes read and written per request burst; each must finish within the timeout."""
KEEPALIVE_INTERVAL = 15
KEEPALIVE_COUNT = 3
MIN_STALE_AGE = 60
"""Seconds (at least) a temp file must be unchanged before a later run removes it."""
HOST_KEY_ALGS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
"""What the probe asks for, best first: the key it pins is an ed25519 one if the NAS
has it. (With a pinned key, asyncssh asks for that key's type only.)"""

_CONNECTION_ERRORS = (
    asyncssh.SFTPConnectionLost,
    asyncssh.SFTPNoConnection,
    asyncssh.DisconnectError,
    asyncssh.ChannelOpenError,
    OSError,
    TimeoutError,
)
"""What ends the connection, not just one file's transfer."""


class _FileFailedError(Exception):
    """This file stays in the inbox; ``str()`` is the reason."""


async def connect(
    host: str,
    port: int,
    username: str,
    private_key: str,
    host_key: str | None,
    timeout: float,
) -> asyncssh.SSHClientConnection:
    """An authenticated SSH connection; ``host_key`` None accepts any host key.

    Nothing from ``~/.ssh`` (config, known hosts, keys) or an agent is used.
    """
    try:
        key = asyncssh.import_private_key(private_key)
    except (asyncssh.KeyImportError, ValueError) as err:
        raise InboxError("private key unreadable") from err
    options: dict[str, object] = {}
    if host_key is None:
        options["known_hosts"] = None
        options["server_host_key_algs"] = list(HOST_KEY_ALGS)
    else:
        # Trusted keys, CA keys, revoked keys: this key, whatever the host's name.
        # (Not a "* KEY" known_hosts line: newer asyncssh resolves "*" as a name.)
        options["known_hosts"] = ([asyncssh.import_public_key(host_key)], [], [])
    try:
        return await asyncssh.connect(
            host,
            port,
            username=username,
            client_keys=[key],
            agent_path=None,
            config=None,
            x509_trusted_certs=None,
            x509_trusted_cert_paths=[],
            preferred_auth="publickey",
            gss_kex=False,
            gss_auth=False,
            connect_timeout=timeout,
            login_timeout=timeout,
            keepalive_interval=KEEPALIVE_INTERVAL,
            keepalive_count_max=KEEPALIVE_COUNT,
            **options,
        )
    except asyncssh.PermissionDenied as err:
        raise SshAuthError("the NAS did not accept the key") from err
    except asyncssh.HostKeyNotVerifiable as err:
        raise SshHostKeyError("the NAS's host key is not the pinned one") from err
    except TimeoutError as err:
        raise SshUnreachableError(f"no SSH answer within {timeout:g} s") from err
    except ConnectionRefusedError as err:
        raise SshUnreachableError("connection refused") from err
    except OSError as err:
        raise SshUnreachableError(err.strerror or type(err).__name__) from err
    except asyncssh.Error as err:
        raise SshUnreachableError(f"SSH failed: {err.reason}") from err


async def start_sftp(
    conn: asyncssh.SSHClientConnection, timeout: float
) -> asyncssh.SFTPClient:
    """The connection's SFTP session; InboxError if the NAS offers none."""
    try:
        async with asyncio.timeout(timeout):
            return await conn.start_sftp_client()
    except asyncssh.ChannelOpenError as err:
        raise InboxError("the NAS offers no SFTP") from err
    except (asyncssh.Error, OSError, TimeoutError) as err:
        raise SshUnreachableError(f"SFTP did not start: {_lost(err)}") from err


def host_key_line(conn: asyncssh.SSHClientConnection) -> str:
    """The host key the server used, ``"ssh-ed25519 AAAA..."``."""
    # None only after a GSS key exchange, which ``connect`` never offers.
    key = cast("asyncssh.SSHKey", conn.get_server_host_key())
    kind, data = key.export_public_key("openssh").decode().split()[:2]
    return f"{kind} {data}"


async def check_remote_dir(sftp: asyncssh.SFTPClient, path: str, timeout: float) -> int:
    """Check ``path`` is a writable directory; return the NAS's clock (Unix s).

    Writable is checked the only reliable way: a probe temp file is created (its
    mtime is the NAS's time) and removed again.
    """
    try:
        async with asyncio.timeout(timeout):
            attrs = await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile as err:
        raise RemotePathError(f"{path} does not exist on the NAS") from err
    except asyncssh.SFTPPermissionDenied as err:
        raise RemotePathError(f"{path} cannot be read on the NAS") from err
    if attrs.permissions is None or not stat.S_ISDIR(attrs.permissions):
        raise RemotePathError(f"{path} is not a directory on the NAS")
    probe = f"{path}/{temp_name()}"
    try:
        async with asyncio.timeout(timeout):
            async with await sftp.open(
                probe, asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL
            ) as file:
                now = (await file.stat()).mtime
            await sftp.remove(probe)
    except asyncssh.SFTPError as err:
        if isinstance(err, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
            raise
        raise RemotePathError(f"{path} is not writable on the NAS") from err
    return int(now or 0)


async def probe(
    host: str, port: int, username: str, private_key: str, root: str, timeout: float
) -> str:
    """Log in accepting any host key, check ``root``; return the host key line."""
    async with await connect(host, port, username, private_key, None, timeout) as conn:
        line = host_key_line(conn)
        async with await start_sftp(conn, timeout) as sftp:
            try:
                await check_remote_dir(sftp, root, timeout)
            except _CONNECTION_ERRORS as err:
                raise SshUnreachableError(_lost(err)) from err
    return line


async def flush_sftp(
    local: LocalInbox,
    files: list[LocalFile],
    target: SshTarget,
    root: str,
    timeout: float,
    tally: FlushTally,
) -> None:
    """Send ``files`` (settled) into ``root`` on the NAS over SFTP (see the module doc)."""
    async with (
        await connect(
            target.host,
            target.port,
            target.username,
            target.private_key,
            target.host_key,
            timeout,
        ) as conn,
        await start_sftp(conn, timeout) as sftp,
    ):
        run = _SftpRun(conn, sftp, local, root, timeout, tally)
        try:
            await run.prepare(files)
        except _CONNECTION_ERRORS as err:
            raise SshUnreachableError(_lost(err)) from err
        await run.send_all(files)


class _SftpRun:
    """One flush over an open SFTP session."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        sftp: asyncssh.SFTPClient,
        local: LocalInbox,
        root: str,
        timeout: float,
        tally: FlushTally,
    ) -> None:
        self._conn = conn
        self._sftp = sftp
        self._stalled = False
        """Whether a request outlived the timeout (and the connection was dropped)."""
        self._lost = False
        """Whether the connection is gone: no request is sent any more."""
        self._local = local
        self._root = root.encode()
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._dirs: set[bytes] = {self._root}
        """Remote directories known to exist."""
        self._tally = tally

    async def prepare(self, files: list[LocalFile]) -> None:
        """Check the remote directory; remove stale temp files where we write."""
        now = await check_remote_dir(self._sftp, self._root.decode(), self._timeout)
        stale_before = now - max(2 * self._timeout, MIN_STALE_AGE)
        parents = {self._remote(file).rpartition(b"/")[0] for file in files}
        for directory in sorted(parents):
            with contextlib.suppress(asyncssh.SFTPError):
                await self._remove_stale(directory, stale_before)

    async def send_all(self, files: list[LocalFile]) -> None:
        """Send ``files`` in order; stop at the first connection error."""
        failures = self._tally.failures
        for file in files:
            try:
                await self._send(file)
            except NotReadyError:
                continue  # changed, in use or gone since it was listed: later
            except _FileFailedError as err:
                failures.append(FlushFailure(file.relative, str(err)))
            except _CONNECTION_ERRORS as err:
                reason = _lost(TimeoutError() if self._stalled else err)
                failures.append(FlushFailure(file.relative, reason))
                return
            except asyncssh.SFTPError as err:
                failures.append(FlushFailure(file.relative, _reason(err)))

    async def _remove_stale(self, directory: bytes, stale_before: float) -> None:
        for name in await self._io(self._sftp.readdir, directory):
            filename = os.fsencode(name.filename)
            mode, mtime = name.attrs.permissions, name.attrs.mtime
            if (
                TEMP_NAME.fullmatch(filename.decode(errors="replace"))
                and mode is not None
                and stat.S_ISREG(mode)
                and mtime is not None
                and mtime < stale_before
            ):
                await self._io(self._sftp.remove, directory + b"/" + filename)

    async def _send(self, file: LocalFile) -> None:
        remote = self._remote(file)
        await self._make_parents(remote)
        existing = await self._lstat(remote)
        if existing is not None:
            await self._settle_existing(file, remote, existing)
            return
        taken = await self._take(file)
        try:
            temp = remote.rpartition(b"/")[0] + b"/" + temp_name().encode()
            try:
                await self._upload(taken, temp)
                if not await self._local_io(self._local.unchanged, taken):
                    raise _FileFailedError(CHANGED)
                try:
                    await self._io(self._sftp.rename, temp, remote)
                except asyncssh.SFTPFailure:
                    if await self._lstat(remote) is not None:  # appeared meanwhile
                        raise _FileFailedError(CLASH) from None
                    raise
                temp = b""
            finally:
                if temp:
                    with contextlib.suppress(*_CONNECTION_ERRORS, asyncssh.SFTPError):
                        await self._io(self._sftp.remove, temp)
        except Exception:
            # (A cancelled flush puts back what it took when it closes the inbox.)
            await self._local_io(self._local.release, taken, sent=False)
            raise
        if not await self._local_io(self._local.release, taken, sent=True):
            raise _FileFailedError(f"{CHANGED}; the NAS has the earlier version")
        self._tally.transferred += 1
        self._tally.bytes += taken.file.size

    async def _settle_existing(
        self, file: LocalFile, remote: bytes, attrs: asyncssh.SFTPAttrs
    ) -> None:
        """A file of that name is on the NAS: let ours go only if it is identical."""
        mode = attrs.permissions
        if mode is None or not stat.S_ISREG(mode) or attrs.size != file.size:
            raise _FileFailedError(CLASH)
        taken = await self._take(file)
        same = False
        try:
            ours = await self._local_io(_digest, taken.fd)
            same = ours == await self._remote_digest(remote)
        finally:
            removed = await self._local_io(self._local.release, taken, sent=same)
        if not same:
            raise _FileFailedError(CLASH)
        if not removed:
            raise _FileFailedError(CHANGED)
        self._tally.already += 1

    async def _take(self, file: LocalFile) -> Taken:
        return await self._local_io(self._local.take, file)

    async def _upload(self, taken: Taken, temp: bytes) -> None:
        """Copy the taken file to the new file ``temp``, which must end up as long."""
        fd, size = taken.fd, taken.file.size
        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL
        async with self._remote_file(temp, flags) as target:
            block = target.write_len or CHUNK
            offset = 0
            reading = asyncio.ensure_future(self._local_io(os.pread, fd, CHUNK, 0))
            try:
                while data := await reading:
                    reading = asyncio.ensure_future(
                        self._local_io(os.pread, fd, CHUNK, offset + len(data))
                    )
                    # Requests of at most the server's size, all in flight at once
                    # (asyncssh's own splitting loses errors when a connection dies).
                    await self._io(
                        _all,
                        (
                            target.write(data[start : start + block], offset + start)
                            for start in range(0, len(data), block)
                        ),
                    )
                    offset += len(data)
            finally:
                reading.cancel()
                with contextlib.suppress(
                    OSError, _FileFailedError, asyncio.CancelledError
                ):
                    await reading
            if offset != size:
                raise _FileFailedError(CHANGED)
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await self._io(target.fsync)
            written = (await self._io(target.stat)).size
        if written != offset:
            raise _FileFailedError("incomplete on the NAS")

    async def _remote_digest(self, remote: bytes) -> bytes:
        digest = hashlib.sha256()
        async with self._remote_file(remote, "rb") as source:
            offset = 0
            block = min(source.read_len or CHUNK, CHUNK)
            while data := await self._io(_read, source, block, offset):
                digest.update(data)
                offset += len(data)
        return digest.digest()

    @contextlib.asynccontextmanager
    async def _remote_file(
        self, path: bytes, flags: int | str
    ) -> AsyncIterator[asyncssh.SFTPClientFile]:
        """``path`` opened on the NAS, closed again unless the connection is gone."""
        file = await self._io(self._sftp.open, path, flags, encoding=None)
        try:
            yield file
        finally:
            if not self._lost:
                await self._io(file.close)

    async def _make_parents(self, remote: bytes) -> None:
        parent = remote.rpartition(b"/")[0]
        if parent in self._dirs:
            return
        try:
            await self._io(self._sftp.makedirs, parent, exist_ok=True)
        except asyncssh.SFTPFailure as err:
            raise _FileFailedError(
                "a file on the NAS is in the way of its folder"
            ) from err
        self._dirs.add(parent)

    async def _lstat(self, remote: bytes) -> asyncssh.SFTPAttrs | None:
        try:
            return await self._io(self._sftp.lstat, remote)
        except asyncssh.SFTPNoSuchFile:
            return None

    def _remote(self, file: LocalFile) -> bytes:
        return self._root + b"/" + os.fsencode(file.relative)

    async def _io[**P, R](
        self, request: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """One SFTP exchange, which must finish within the inactivity timeout.

        A NAS that stops answering gets its connection dropped, so that nothing
        else waits for it either (closing the remote file, say). asyncssh's work is
        never cancelled halfway: a cancelled write leaves request tasks and reply
        waiters behind that fail later with nobody to hear it. Dropping the
        connection ends them all, and their errors are collected here. Once the
        connection is gone, no further request is even started.
        """
        if self._lost or self._conn.is_closed():
            self._lost = True
            raise asyncssh.SFTPConnectionLost("Connection closed")
        task = asyncio.ensure_future(request(*args, **kwargs))
        try:
            done, _ = await asyncio.wait((task,), timeout=self._timeout)
        except asyncio.CancelledError:
            self._drop(task)
            raise
        if not done:
            self._stalled = True
            self._drop(task)
            raise TimeoutError
        try:
            return task.result()
        except _CONNECTION_ERRORS:
            self._lost = True
            raise

    def _drop[T](self, task: asyncio.Future[T]) -> None:
        """Drop the connection under ``task``, which then ends with an error."""
        self._lost = True
        self._conn.abort()
        task.add_done_callback(_collect)

    async def _local_io[**P, R](
        self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Work on the Pi's disk, off the event loop and bounded.

        A local OSError fails the file; NotReadyError passes (the file waits).
        """
        try:
            return await blocking(function, *args, **kwargs)
        except OSError as err:
            raise _FileFailedError(f"unreadable: {err.strerror}") from err


def _collect[T](task: asyncio.Future[T]) -> None:
    """Take note of a dropped request's end, so that its error is not reported."""
    if not task.cancelled():
        task.exception()


async def _all(requests: Iterable[Awaitable[object]]) -> None:
    """Await every request; then raise the first error, if any."""
    results = await asyncio.gather(*requests, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _read(file: asyncssh.SFTPClientFile, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` (the file is opened without encoding)."""
    return cast("bytes", await file.read(size, offset))


def _digest(fd: int) -> bytes:
    """SHA-256 of the whole file open at ``fd``."""
    digest = hashlib.sha256()
    offset = 0
    while data := os.pread(fd, CHUNK, offset):
        digest.update(data)
        offset += len(data)
    return digest.digest()


def _lost(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "the NAS stopped answering"
    return "connection lost"


def _reason(err: asyncssh.SFTPError) -> str:
    if isinstance(err, asyncssh.SFTPPermissionDenied):
        return "permission denied on the NAS"
    if isinstance(err, asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded):
        return "the NAS disk is full"
    if isinstance(err, asyncssh.SFTPFailure):
        # OpenSSH's SFTP server says only "Failure" for ENOSPC, EFBIG, EIO, ...
        return "the NAS could not write it (disk full?)"
    return f"SFTP error: {err.reason}"
