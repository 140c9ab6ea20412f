"""The Pi's inbox in Home Assistant: its size, and flushing it to the NAS.

Files dropped into the inbox while the NAS is away go to it when it comes back. One
flush runs at a time; a flush asked for while one runs joins it. The transfer itself
(rsync or SFTP over SSH, with the pinned host key) is ``inbox.flush_inbox``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .inbox import (
    FlushResult,
    InboxContent,
    InboxError,
    SshTarget,
    flush_inbox,
    scan_inbox,
)
from .settings import InboxSettings


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


class InboxFlusher:
    """Flushes one inbox folder to the NAS, one flush at a time."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, settings: InboxSettings, nas_ip: str
    ) -> None:
        """Flush ``settings.folder`` to ``settings.nas_path`` on ``nas_ip``."""
        self._hass = hass
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
        self._workdir = flush_workdir(hass, entry_id)
        self._content: InboxContent | None = None
        self._last: FlushResult | None = None
        self._last_at: datetime | None = None
        self._last_error: str | None = None
        self._running: asyncio.Task[FlushResult] | None = None
        self._readable = True

    @property
    def status(self) -> InboxStatus:
        """The inbox's status now."""
        return InboxStatus(
            self._content,
            self._last,
            self._last_at,
            self._last_error,
            self._running is not None and not self._running.done(),
        )

    async def async_scan(self) -> None:
        """Count the files waiting in the inbox (unknown while it cannot be read)."""
        try:
            self._content = await self._hass.async_add_executor_job(
                scan_inbox, self.folder
            )
        except (InboxError, OSError) as err:
            if self._readable:
                LOGGER.warning("Cannot read the inbox folder %s: %s", self.folder, err)
            self._readable, self._content = False, None
        else:
            if not self._readable:
                LOGGER.info("The inbox folder %s can be read again", self.folder)
            self._readable = True

    def start(self) -> asyncio.Task[FlushResult]:
        """Start a flush, or return the one that runs."""
        if self._running is None or self._running.done():
            # Checked by done(), not cleared by the flush itself: an eagerly started
            # task may finish before create_task returns.
            self._running = self._hass.async_create_background_task(
                self._flush(), "balupi inbox flush"
            )
            # A failed flush is logged and kept in the status; nobody must await it.
            self._running.add_done_callback(_retrieve)
        return self._running

    async def _flush(self) -> FlushResult:
        try:
            await self._hass.async_add_executor_job(self._prepare_workdir)
            result = await flush_inbox(self.folder, self._target, workdir=self._workdir)
        except (InboxError, ValueError) as err:
            # ValueError: settings the transport refuses before it connects.
            self._last_error = str(err)
            LOGGER.warning("Inbox flush to the NAS failed: %s", err)
            if isinstance(err, InboxError):
                raise
            raise InboxError(str(err)) from err
        finally:
            self._last_at = dt_util.utcnow()
            await self.async_scan()
        self._last, self._last_error = result, None
        for failure in result.failures:
            LOGGER.warning(
                "Inbox file %s stays on the Pi: %s", failure.path, failure.reason
            )
        LOGGER.info(
            "Inbox flushed to the NAS over %s: %d files, %d bytes",
            result.transport,
            result.files_transferred,
            result.bytes_transferred,
        )
        return result

    def _prepare_workdir(self) -> None:
        try:
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._workdir.chmod(0o700)
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InboxError(f"cannot create {err.filename}: {err.strerror}") from err


def _retrieve(task: asyncio.Task[FlushResult]) -> None:
    if not task.cancelled():
        task.exception()
