"""The Pi's inbox in Home Assistant: its size, and flushing it to the NAS.

Files dropped into the inbox go to the NAS while it is online: once they settled
(unchanged for the settle time and closed), at the latest one heartbeat after, and
at once when the NAS comes online. One flush runs at a time, tied to the entry (an
unload cancels it; what it had taken goes back); a flush asked for while one runs
joins it, unless that one overran its deadline, which a new one then replaces. Never
two on one folder: a flush waits until the one before it ended, even the one of the
entry before a reload that took longer to put its files back than the unload waited
(Home Assistant waits 10 s for an entry's tasks). The transfer itself (rsync or SFTP over SSH, with the pinned host key) is
``inbox.flush_inbox``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .inbox import (
    FlushResult,
    InboxContent,
    InboxError,
    InboxScan,
    SettleWatch,
    SshTarget,
    flush_inbox,
    scan_inbox,
)
from .settings import InboxSettings

if TYPE_CHECKING:
    from .coordinator import BaluPiConfigEntry

FLUSH_BUDGET = 15 * 60
"""Seconds a flush may run, plus its bytes at ``MIN_RATE``, before it counts as stuck."""
MIN_RATE = 100 * 1024
RETRY_AFTER = 10 * 60
"""Seconds before files that failed (or a flush that failed) are tried again by
themselves; new files go at once, and so does everything when the NAS comes online."""
STUCK_GRACE = 30
"""Seconds a new flush waits for the stuck one it replaces to put its files back."""


DATA_FOLDER_LOCKS: HassKey[dict[str, asyncio.Lock]] = HassKey(f"{DOMAIN}_inbox_locks")
"""One lock per inbox folder, held by the flush that runs; outlives a reload."""


def flush_workdir(hass: HomeAssistant, entry_id: str) -> Path:
    """Where the rsync transport keeps its key and known_hosts files while it runs.

    In Home Assistant's private storage, which the container keeps across updates.
    """
    return Path(hass.config.path(".storage", DOMAIN, entry_id))


@dataclass(frozen=True, slots=True)
class InboxStatus:
    """What is in the inbox and how the last flush went."""

    content: InboxContent | None
    """None until the folder was first read."""
    last_flush: FlushResult | None
    last_flush_at: datetime | None
    last_error: str | None
    """Why the last flush could not run at all; None when it ran."""
    flushing: bool
    ready: InboxContent | None = None
    """Of ``content``, the settled files the next flush sends."""


class InboxFlusher:
    """Flushes one inbox folder to the NAS, one flush at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BaluPiConfigEntry,
        settings: InboxSettings,
        nas_ip: str,
        settle_time: float,
    ) -> None:
        """Flush ``settings.folder`` to ``settings.nas_path`` on ``nas_ip``."""
        self._hass = hass
        self._entry = entry
        self.settings = settings
        self.folder = Path(settings.folder)
        self._target = SshTarget(
            host=nas_ip,
            port=settings.ssh_port,
            username=settings.ssh_user,
            private_key=settings.private_key,
            host_key=settings.host_key,
            remote_path=settings.nas_path,
        )
        self._workdir = flush_workdir(hass, entry.entry_id)
        self._lock = hass.data.setdefault(DATA_FOLDER_LOCKS, {}).setdefault(
            str(self.folder), asyncio.Lock()
        )
        self.watch = SettleWatch(settle_time)
        self.may_flush: Callable[[], bool] = lambda: False
        """Whether the NAS may be sent to now (it is online); set by its owner."""
        self.on_change: Callable[[], None] = lambda: None
        """Called when a flush ends; set by its owner to show the new status."""
        self._scan: InboxScan | None = None
        self._last: FlushResult | None = None
        self._last_at: datetime | None = None
        self._last_error: str | None = None
        self._running: asyncio.Task[FlushResult] | None = None
        self._deadline = 0.0
        self._readable = True
        self._reported: dict[str, str] = {}
        """Files that stay on the Pi, and why, as last logged."""
        self._held: dict[str, tuple[int, int, int, int, int]] = {}
        """Settled files the last flush left (failed, or not reached), as they were."""
        self._retry_at = 0.0
        self._recheck: CALLBACK_TYPE | None = None
        entry.async_on_unload(self._cancel_recheck)

    @property
    def status(self) -> InboxStatus:
        """The inbox's status now."""
        scan = self._scan
        return InboxStatus(
            scan.content if scan is not None else None,
            self._last,
            self._last_at,
            self._last_error,
            self._running is not None and not self._running.done(),
            scan.ready if scan is not None else None,
        )

    async def async_scan(self) -> None:
        """Count the files in the inbox; flush the settled ones if the NAS is online.

        Unknown while the folder cannot be read. When files wait to settle, the
        inbox is looked at again the moment the next one would have.
        """
        try:
            scan = await self._hass.async_add_executor_job(
                scan_inbox, self.folder, self.watch
            )
        except (InboxError, OSError, ValueError) as err:
            if self._readable:
                LOGGER.warning("Cannot read the inbox folder %s: %s", self.folder, err)
            self._readable, self._scan = False, None
            return
        if not self._readable:
            LOGGER.info("The inbox folder %s can be read again", self.folder)
        self._readable, self._scan = True, scan
        self._cancel_recheck()
        if scan.due_in is not None:
            self._recheck = async_call_later(
                self._hass, scan.due_in + 0.5, self._settled
            )
        if self._due(scan):
            self.start()

    def _due(self, scan: InboxScan) -> bool:
        """Whether settled files should go now, by themselves.

        New settled files go at once; what a flush left (a name clash, say), or
        everything after a flush that failed, only every ``RETRY_AFTER`` seconds.
        """
        if not scan.ready.files or self.status.flushing or not self.may_flush():
            return False
        if asyncio.get_running_loop().time() >= self._retry_at:
            return True
        return self._last_error is None and any(
            self._held.get(file.relative) != file.identity for file in scan.ready_files
        )

    @callback
    def _settled(self, _now: datetime) -> None:
        self._recheck = None
        self._entry.async_create_background_task(
            self._hass, self._scan_and_show(), "balupi inbox settle check"
        )

    async def _scan_and_show(self) -> None:
        await self.async_scan()
        self.on_change()

    @callback
    def _cancel_recheck(self) -> None:
        if self._recheck is not None:
            self._recheck()
            self._recheck = None

    def start(self) -> asyncio.Task[FlushResult]:
        """Start a flush, or return the one that runs."""
        running = self._running
        if running is not None and not running.done():
            if asyncio.get_running_loop().time() < self._deadline:
                return running
            LOGGER.warning(
                "The inbox flush to the NAS is stuck; cancelled, starting again"
            )
            running.cancel()
        ready = self._scan.ready.bytes if self._scan is not None else 0
        self._deadline = (
            asyncio.get_running_loop().time() + FLUSH_BUDGET + ready / MIN_RATE
        )
        # Checked by done(), not cleared by the flush itself: an eagerly started
        # task may finish before create_task returns. Tied to the entry: an unload
        # cancels it, and what it had taken goes back into the inbox.
        self._running = task = self._entry.async_create_background_task(
            self._hass, self._flush(), "balupi inbox flush"
        )
        # A failed flush is logged and kept in the status; nobody must await it.
        task.add_done_callback(self._flushed)
        return task

    @callback
    def _flushed(self, task: asyncio.Task[FlushResult]) -> None:
        if not task.cancelled():
            task.exception()
        self.on_change()

    async def _flush(self) -> FlushResult:
        # One flush per folder, across reloads: a flush that replaces a stuck (now
        # cancelled) one, or starts right after a reload, waits here while the other
        # puts what it had taken back into the inbox, so it sees those files and sends
        # them. Bounded: the other's clean-up steps have bounds of their own.
        try:
            async with asyncio.timeout(STUCK_GRACE):
                await self._lock.acquire()
        except TimeoutError as err:
            raise InboxError(
                "the previous flush has not put its files back yet; trying again later"
            ) from err
        try:
            return await self._flush_alone()
        finally:
            self._lock.release()

    async def _flush_alone(self) -> FlushResult:
        before = self._scan.ready_files if self._scan is not None else ()
        try:
            await self._hass.async_add_executor_job(self._prepare_workdir)
            result = await flush_inbox(
                self.folder, self._target, watch=self.watch, workdir=self._workdir
            )
        except (InboxError, ValueError) as err:
            # ValueError: settings the transport refuses before it connects.
            # Said once; the same error again (every retry) only at debug level.
            log = LOGGER.debug if str(err) == self._last_error else LOGGER.warning
            self._last_error = str(err)
            log("Inbox flush to the NAS failed: %s", err)
            if isinstance(err, InboxError):
                raise
            raise InboxError(str(err)) from err
        finally:
            self._last_at = dt_util.utcnow()
            self._retry_at = asyncio.get_running_loop().time() + RETRY_AFTER
            self._held = {file.relative: file.identity for file in before}
            await self.async_scan()
        self._last, self._last_error = result, None
        self._log_failures(result)
        if result.files_transferred or result.already_on_nas:
            LOGGER.info(
                "Inbox flushed to the NAS over %s: %d files, %d bytes",
                result.transport,
                result.files_transferred,
                result.bytes_transferred,
            )
        return result

    def _log_failures(self, result: FlushResult) -> None:
        """Say once why a file stays on the Pi (again only when the reason changes)."""
        if not result.failures:
            self._retry_at = 0.0
        reasons = {failure.path: failure.reason for failure in result.failures}
        for path, reason in reasons.items():
            if self._reported.get(path) != reason:
                LOGGER.warning("Inbox file %s stays on the Pi: %s", path, reason)
        self._reported = reasons

    def _prepare_workdir(self) -> None:
        try:
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._workdir.chmod(0o700)
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InboxError(f"cannot create {err.filename}: {err.strerror}") from err
