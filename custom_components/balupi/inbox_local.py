"""The Pi's side of the inbox: listing, taking and removing files without leaving it.

Plain Python, no Home Assistant, Linux only; blocking (run it in an executor).

The inbox is written by other programs (Samba, a camera, a scanner) and maybe by
someone hostile on the LAN, so nothing here follows a path:

* every folder is opened relative to its parent's descriptor with ``O_NOFOLLOW``: a
  folder swapped for a symlink at any moment leads nowhere, and nothing outside the
  inbox is ever read, listed or removed;
* a file is opened as a path handle first (``O_PATH``: no side effect, a FIFO cannot
  block) and only a regular file is then opened for reading; sockets, FIFOs and
  devices are listed as ``SpecialFile`` and never opened;
* a file is **taken** before it is sent: moved, keeping its name, into a hidden
  folder beside it (``.balupi-<token>.claimed``). From then on nobody can rename or
  replace it under its name, and what is sent is read from the descriptor opened
  before. It leaves the inbox (``release(..., sent=True)``) only if it is still the
  very file that was taken (inode, size, modification and change time) and no one
  has it open for writing (a read lease, where the kernel grants one); otherwise it
  goes back under its name. A flush that dies leaves its taken files in the hidden
  folder; ``recover`` (run at the start of every flush) puts them back.

Which files are ready is ``SettleWatch``'s call: only a file seen unchanged for the
settle time is taken at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
import errno
import fcntl
import os
from pathlib import Path
import re
import secrets
import signal
import stat
import threading
import time

CLAIM_DIR = re.compile(r"\.balupi-([0-9a-f]{16})\.claimed")
"""The hidden folder a flush moves the files it took into."""
TEMP_NAME = re.compile(r"\.balupi-[0-9a-f]{16}\.part")
"""Our own temporary files (uploads in progress on the NAS): never sent, never counted."""
MAX_DEPTH = 64
"""Folders nested deeper than this are not read (reported once as special)."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}
_active: set[str] = set()
"""Tokens of the flushes running in this process: their hidden folders are in use."""
_active_lock = threading.Lock()


class NotReadyError(Exception):
    """The file stays for now (changed, still being written, gone); ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A regular file in the inbox, as listed."""

    relative: str
    """Its path below the inbox, ``/``-separated."""
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int

    @property
    def identity(self) -> tuple[int, int, int, int, int]:
        """What changes when the file is written, replaced or renamed."""
        return (self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns)

    @classmethod
    def of(cls, relative: str, info: os.stat_result) -> LocalFile:
        """The file ``relative`` as ``info`` describes it."""
        return cls(
            relative,
            info.st_size,
            info.st_mtime_ns,
            info.st_ctime_ns,
            info.st_ino,
            info.st_dev,
        )


@dataclass(frozen=True, slots=True)
class SpecialFile:
    """Something in the inbox that is never sent (a FIFO, a socket, a device)."""

    relative: str
    reason: str


@dataclass(frozen=True, slots=True)
class Listing:
    """What the inbox holds: its regular files and what is skipped."""

    files: tuple[LocalFile, ...]
    special: tuple[SpecialFile, ...] = ()
    taken: int = 0
    """Files in hidden folders of flushes (running now, or cut short before)."""
    taken_bytes: int = 0
    claimed: tuple[tuple[str, str], ...] = ()
    """The hidden folders: (relative path of their folder, their name)."""


@dataclass(slots=True)
class Taken:
    """A file moved into the flush's hidden folder, open for reading."""

    file: LocalFile
    """As it was when taken: what is sent."""
    fd: int
    """Open for reading: what is sent is read from here."""
    home: int
    """Its folder."""
    claim: int
    """The hidden folder it is in now."""
    name: str
    done: bool = False


class SettleWatch:
    """Which files have been seen unchanged for the settle time.

    A file is settled once its identity (inode, size, modification and change time)
    has stayed the same across observations spanning ``settle_time`` seconds, by a
    monotonic clock (the Pi's wall clock may jump when it finds the time). Anything
    that writes, truncates or renames a file changes its change time, which no
    program can set back.
    """

    def __init__(
        self, settle_time: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Settle files after ``settle_time`` seconds without change."""
        self.settle_time = settle_time
        self._clock = clock
        self._seen: dict[str, tuple[tuple[int, int, int, int, int], float]] = {}
        self._lock = threading.Lock()
        """Scans (in an executor) and flushes look at the same files."""

    def observe(self, files: Iterable[LocalFile]) -> list[LocalFile]:
        """Note what ``files`` (a whole listing) look like now; return the settled ones."""
        with self._lock:
            return self._observe(files)

    def _observe(self, files: Iterable[LocalFile]) -> list[LocalFile]:
        now = self._clock()
        seen: dict[str, tuple[tuple[int, int, int, int, int], float]] = {}
        settled = []
        for file in files:
            known = self._seen.get(file.relative)
            if known is None or known[0] != file.identity:
                known = (file.identity, now)
            seen[file.relative] = known
            if now - known[1] >= self.settle_time:
                settled.append(file)
        self._seen = seen
        return settled

    def due_in(self) -> float | None:
        """Seconds until the next file seen but not settled would settle; None if none."""
        now = self._clock()
        with self._lock:
            firsts = [first for _, first in self._seen.values()]
        waits = [
            first + self.settle_time - now
            for first in firsts
            if now - first < self.settle_time
        ]
        return max(0.0, min(waits)) if waits else None


class LocalInbox:
    """The inbox folder, opened once; use it as a context manager.

    Not thread-safe: one flush (or one scan) uses it at a time.
    """

    def __init__(self, folder: Path) -> None:
        """Open ``folder`` (a missing folder is an empty inbox)."""
        if not folder.is_absolute():
            raise ValueError(f"inbox folder must be absolute: {folder}")
        self.folder = folder
        self.token = secrets.token_hex(8)
        self._root: int | None = None
        try:
            self._root = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            self._root = None
        self._dirs: dict[str, int] = {}
        """Folders opened below the root, by relative path: closed at the end."""
        self._claims: dict[str, int] = {}
        """This flush's hidden folders, by the relative path of their folder."""
        self._taken: list[Taken] = []
        with _active_lock:
            _active.add(self.token)

    def __enter__(self) -> LocalInbox:
        """Use the inbox until the block ends."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Put back whatever is still taken, and close every descriptor."""
        self.close()

    # -- Listing ---------------------------------------------------------------

    def listing(self) -> Listing:
        """Every regular file below the inbox, and what is skipped, sorted.

        Symlinks are neither followed nor listed, nor are our own temp files; a folder
        that cannot be read, or vanishes, is passed over.
        """
        if self._root is None:
            return Listing(())
        files: list[LocalFile] = []
        special: list[SpecialFile] = []
        claimed: list[tuple[str, str]] = []
        taken = [0, 0]
        self._walk(files, special, claimed, taken)
        files.sort(key=lambda file: file.relative)
        special.sort(key=lambda item: item.relative)
        return Listing(tuple(files), tuple(special), taken[0], taken[1], tuple(claimed))

    def _walk(
        self,
        files: list[LocalFile],
        special: list[SpecialFile],
        claimed: list[tuple[str, str]],
        taken: list[int],
    ) -> None:
        if self._root is None:
            return
        # Depth first with one open descriptor per level, so a wide tree costs few.
        stack: list[tuple[str, int, Iterator[str]]] = []
        prefix, fd = "", self._root
        while True:
            subfolders = self._read_folder(prefix, fd, files, special, claimed, taken)
            if len(stack) >= MAX_DEPTH and subfolders:
                special.append(
                    SpecialFile(prefix + subfolders[0], "folders nested too deep")
                )
                subfolders = []
            stack.append((prefix, fd, iter(subfolders)))
            while stack:
                parent_prefix, parent_fd, pending = stack[-1]
                name = next(pending, None)
                if name is None:
                    stack.pop()
                    if parent_fd != self._root:
                        os.close(parent_fd)
                    continue
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
                except OSError:
                    continue  # gone, swapped for a symlink, or unreadable
                prefix = f"{parent_prefix}{name}/"
                break
            else:
                return

    def _read_folder(
        self,
        prefix: str,
        fd: int,
        files: list[LocalFile],
        special: list[SpecialFile],
        claimed: list[tuple[str, str]],
        taken: list[int],
    ) -> list[str]:
        """List one folder; return its subfolders' names."""
        try:
            with os.scandir(fd) as scan:
                entries = list(scan)
        except OSError as err:
            if not prefix:
                raise InboxUnreadableError(err.strerror or str(err)) from err
            return []
        subfolders = []
        for entry in entries:
            name = entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                if CLAIM_DIR.fullmatch(name):
                    claimed.append((prefix.rstrip("/"), name))
                    self._count_claimed(fd, name, taken)
                else:
                    subfolders.append(name)
            elif stat.S_ISREG(mode):
                if not TEMP_NAME.fullmatch(name):
                    files.append(LocalFile.of(prefix + name, info))
            elif not stat.S_ISLNK(mode):
                kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
                special.append(SpecialFile(prefix + name, f"{kind}, not sent"))
        subfolders.sort()
        return subfolders

    @staticmethod
    def _count_claimed(parent: int, name: str, taken: list[int]) -> None:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            return
        try:
            with os.scandir(fd) as scan:
                for entry in scan:
                    with suppress(OSError):
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode):
                            taken[0] += 1
                            taken[1] += info.st_size
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- Taking, releasing -----------------------------------------------------

    def take(self, file: LocalFile) -> Taken:
        """Open ``file`` and move it into this flush's hidden folder.

        Raises NotReadyError when it is gone, no longer a regular file, changed
        since it was listed, or open for writing by someone; OSError when it cannot
        be read (permissions, say).
        """
        directory, _, name = file.relative.rpartition("/")
        home = self._folder(directory)
        fd = _open_regular(home, name)
        try:
            taken = self._move_aside(file, fd, home, directory, name)
        except BaseException:
            os.close(fd)
            raise
        self._taken.append(taken)
        return taken

    def _move_aside(
        self, file: LocalFile, fd: int, home: int, directory: str, name: str
    ) -> Taken:
        """Check the opened ``fd`` is ``file`` and free; move it into hiding."""
        now = os.fstat(fd)
        if LocalFile.of(file.relative, now).identity != file.identity:
            raise NotReadyError("changed since it was listed")
        if open_for_writing(fd):
            raise NotReadyError("still being written")
        claim = self._claim_folder(directory, home)
        try:
            os.rename(name, name, src_dir_fd=home, dst_dir_fd=claim)
        except FileNotFoundError as err:
            raise NotReadyError("vanished from the inbox") from err
        moved = os.stat(name, dir_fd=claim, follow_symlinks=False)
        taken = Taken(LocalFile.of(file.relative, now), fd, home, claim, name)
        if (moved.st_dev, moved.st_ino) != (now.st_dev, now.st_ino):
            # Another file was renamed onto the name after it was opened: not what
            # was checked, so it goes back at once.
            self._put_back(taken)
            raise NotReadyError("replaced while it was taken")
        return taken

    def release(self, taken: Taken, *, sent: bool) -> bool:
        """Remove a file the NAS has (``sent``) or put it back; return if removed.

        A sent file is removed only if it is still exactly what was taken and no
        one has it open for writing; otherwise it goes back under its name.
        """
        if taken.done:
            return False
        removed = False
        try:
            if sent and self.unchanged(taken):
                os.unlink(taken.name, dir_fd=taken.claim)
                removed = True
            else:
                self._put_back(taken)
        finally:
            taken.done = True
            os.close(taken.fd)
        return removed

    def unchanged(self, taken: Taken) -> bool:
        """Whether the taken file is still exactly what was taken, and not written."""
        now = os.fstat(taken.fd)
        # The move into the hidden folder changed its change time: compare the rest.
        if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (
            taken.file.dev,
            taken.file.ino,
            taken.file.size,
            taken.file.mtime_ns,
        ):
            return False
        if open_for_writing(taken.fd):
            return False
        try:
            there = os.stat(taken.name, dir_fd=taken.claim, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (there.st_dev, there.st_ino) == (now.st_dev, now.st_ino)

    def _put_back(self, taken: Taken) -> None:
        """Move a taken file back under its name, never over another file."""
        _move_back(taken.claim, taken.name, taken.home)

    # -- Recovery ----------------------------------------------------------------

    def recover(self, listing: Listing) -> int:
        """Put back the files of flushes that died while they had them taken.

        ``listing`` says where hidden folders are; those of flushes that still run
        in this process are left alone. Returns how many files went back.
        """
        with _active_lock:
            running = set(_active)
        restored = 0
        for parent, name in listing.claimed:
            match = CLAIM_DIR.fullmatch(name)
            if match is None or match[1] in running:
                continue
            with suppress(NotReadyError):
                restored += _restore_folder(self._folder(parent), name)
        return restored

    # -- Folders -------------------------------------------------------------------

    def _folder(self, relative: str) -> int:
        """The folder ``relative`` (``""``: the inbox), walked from the root."""
        if self._root is None:
            raise NotReadyError("vanished from the inbox")
        if not relative:
            return self._root
        if (known := self._dirs.get(relative)) is not None:
            return known
        parent_path, _, name = relative.rpartition("/")
        parent = self._folder(parent_path)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as err:
            # ELOOP/ENOTDIR: swapped for a symlink or a file; ENOENT: gone.
            raise NotReadyError("its folder changed or vanished") from err
        self._dirs[relative] = fd
        return fd

    def _claim_folder(self, relative: str, home: int) -> int:
        """This flush's hidden folder inside the folder ``relative``."""
        if (known := self._claims.get(relative)) is not None:
            return known
        name = f".balupi-{self.token}.claimed"
        try:
            os.mkdir(name, 0o700, dir_fd=home)
        except FileExistsError:
            pass
        except OSError as err:
            raise NotReadyError(f"cannot move it aside: {err.strerror}") from err
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=home)
        except OSError as err:
            raise NotReadyError("its folder changed while it was taken") from err
        self._claims[relative] = fd
        return fd

    def close(self) -> None:
        """Put back what is still taken, remove the hidden folders, close all."""
        try:
            for taken in self._taken:
                if not taken.done:
                    with suppress(OSError):
                        self.release(taken, sent=False)
            self._taken.clear()
            for relative, claim in self._claims.items():
                os.close(claim)
                home = self._dirs.get(relative, self._root) if relative else self._root
                if home is not None:
                    with suppress(OSError):
                        os.rmdir(f".balupi-{self.token}.claimed", dir_fd=home)
            self._claims.clear()
            for fd in self._dirs.values():
                os.close(fd)
            self._dirs.clear()
            if self._root is not None:
                os.close(self._root)
                self._root = None
        finally:
            with _active_lock:
                _active.discard(self.token)


class InboxUnreadableError(OSError):
    """The inbox folder itself cannot be read."""


def _open_regular(home: int, name: str) -> int:
    """``name`` in ``home`` opened for reading, if it is a regular file.

    A path handle first: opening it does nothing to a FIFO or a device, and its
    type is checked before the file itself is opened (through ``/proc``, which
    reopens exactly that inode).
    """
    try:
        handle = os.open(name, _PATH_FLAGS, dir_fd=home)
    except FileNotFoundError as err:
        raise NotReadyError("vanished from the inbox") from err
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotReadyError("replaced by a symlink") from err
        raise
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadyError("no longer a regular file")
        return os.open(f"/proc/self/fd/{handle}", _READ_FLAGS)
    finally:
        os.close(handle)


def _restore_folder(home: int, name: str) -> int:
    """Put back every file of the hidden folder ``name`` in ``home``; remove it."""
    try:
        claim = os.open(name, _DIR_FLAGS, dir_fd=home)
    except OSError:
        return 0
    restored = 0
    try:
        with os.scandir(claim) as scan:
            names = [entry.name for entry in scan]
        for entry in names:
            with suppress(OSError):
                _move_back(claim, entry, home)
                restored += 1
    except OSError:
        pass
    finally:
        os.close(claim)
    with suppress(OSError):
        os.rmdir(name, dir_fd=home)
    return restored


def _move_back(claim: int, name: str, home: int) -> None:
    """Move ``name`` from ``claim`` to ``home``, under its name if that is free."""
    for candidate in (name, *(f"{name}.kept-{n}" for n in range(1, 100))):
        try:
            os.link(
                name,
                candidate,
                src_dir_fd=claim,
                dst_dir_fd=home,
                follow_symlinks=False,
            )
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # No hard links on this filesystem (FAT): rename, which replaces, so
            # only onto a name that is free now.
            try:
                os.stat(candidate, dir_fd=home, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(name, candidate, src_dir_fd=claim, dst_dir_fd=home)
                return
            continue
        os.unlink(name, dir_fd=claim)
        return
    raise FileExistsError(errno.EEXIST, "no free name to put it back", name)


def open_for_writing(fd: int) -> bool:
    """Whether another process has the file of ``fd`` open for writing.

    Asked the kernel by taking a read lease, which is refused while anyone has the
    file open for writing, and releasing it at once. Where no lease can be had (a
    file of another user without CAP_LEASE, a filesystem without leases) the
    answer is False: the settle time alone guards the file.
    """
    try:
        # A lease broken while held signals its owner, by default with SIGIO, which
        # would end Home Assistant: SIGURG is ignored unless someone handles it.
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except BlockingIOError:
        return True
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EINVAL, errno.ENOSYS):
            return False
        raise
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    return False
