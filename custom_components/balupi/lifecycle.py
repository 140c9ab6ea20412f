"""The NAS's lifecycle in Home Assistant: heartbeat, plug power and the state machine.

One coordinator per entry asks the NAS's health endpoint (every 30 s, every 5 s while
it boots), listens to the NAS plug (so power alone moves the state within one plug
poll), judges both with the dual-detection table, moves the persisted state machine,
runs the side effects of each transition and fires ``balupi_nas_state_changed``.

The NAS's own pushes (shutting down with a snapshot, coming online) move the state
too. Side effects, as in the product brief: ``→online`` points the hostname at the
NAS and flushes the inbox, ``→offline`` points it at the Pi, ``offline→booting``
sends the magic packet; the snapshot of ``online→shutting_down`` is kept by the push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ServiceValidationError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import DOMAIN, HEALTH_TIMEOUT, LOGGER
from .detection import Cause, Evidence, Verdict, ask_health_endpoint, judge
from .dns import DnsStatus, DnsSwitcher, DnsTarget
from .energy import NasPower, classify_nas_power
from .flush import InboxFlusher, InboxStatus
from .inbox import FlushResult
from .nas_client import NasError, NasHealth, fetch_health
from .nas_state import NasState, NasStateMachine, Transition
from .snapshot import Snapshot, SnapshotKeeper
from .wol import send_magic_packet

if TYPE_CHECKING:
    from .coordinator import BaluPiConfigEntry, PlugCoordinator
    from .settings import ConnectionSettings, Options

EVENT_NAS_STATE_CHANGED = f"{DOMAIN}_nas_state_changed"
STORAGE_VERSION = 1
PUSH_REPLY_BUDGET = 3.0
"""Seconds a push waits for the DNS switch and the flush before it is answered.

The NAS gives up after 5 s (startup) and 10 s (shutdown); what is not done by then
carries on after the reply, and the reply says so.
"""


@dataclass(frozen=True, slots=True)
class HeartbeatSample:
    """One answer (or silence) of the NAS's health endpoint."""

    checked_at: datetime
    health: NasHealth | None
    error: str | None
    """Why the NAS did not answer healthily; None when it did."""

    @property
    def reachable(self) -> bool:
        """Whether the NAS's API answered healthily."""
        return self.health is not None


@dataclass(frozen=True, slots=True)
class NasStatus:
    """Everything known about the NAS right now."""

    state: NasState
    since: datetime
    power: NasPower | None
    """What the NAS plug says; None without a NAS plug or a reading yet."""
    sample: HeartbeatSample | None
    """The latest health check; None until the first one was sent."""
    snapshot: Snapshot | None = None
    """The snapshot the NAS sent when it last shut down."""
    dns: DnsStatus | None = None
    """Where the hostname points; None without a Pi-hole or before the first look."""
    inbox: InboxStatus | None = None
    """The Pi's inbox; None when no inbox is configured."""

    @property
    def reachable(self) -> bool:
        """Whether the latest health check was answered."""
        return self.sample is not None and self.sample.reachable


def state_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, str]]:
    """Where the NAS's state and its time are kept across restarts."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.nas_state")


def boot_timeout_issue_id(entry: BaluPiConfigEntry) -> str:
    """ID of the repair issue raised when a wake-up does not bring the NAS up."""
    return f"boot_timeout_{entry.entry_id}"


class NasLifecycleCoordinator(DataUpdateCoordinator[NasStatus]):
    """Knows whether the NAS is online, booting, shutting down or offline."""

    config_entry: BaluPiConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BaluPiConfigEntry,
        connection: ConnectionSettings,
        options: Options,
        nas_device_id: str,
        *,
        snapshots: SnapshotKeeper,
        dns: DnsSwitcher | None = None,
        inbox: InboxFlusher | None = None,
    ) -> None:
        """Poll at the heartbeat interval from the options."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} NAS lifecycle",
            update_interval=timedelta(seconds=options.heartbeat_interval),
        )
        self._connection = connection
        self._options = options
        self._nas_device_id = nas_device_id
        self._nas_version: str | None = None
        self._session = async_get_clientsession(hass)
        self._store = state_store(hass, entry.entry_id)
        self.machine = NasStateMachine(clock=dt_util.utcnow)
        self._failures = 0
        self._sample: HeartbeatSample | None = None
        self._power: NasPower | None = None
        self._stored_power: NasPower | None = None
        self._power_predates_push = False
        """Whether the NAS pushed after the plug's latest reading (which then says
        nothing about the NAS now: it was taken while the NAS booted or ran)."""
        self._nas_plug: PlugCoordinator | None = None
        self.snapshots = snapshots
        self.dns = dns
        self.inbox = inbox
        if inbox is not None:
            # Settled files go while the NAS is online, never to a NAS that is not.
            inbox.may_flush = lambda: self.machine.state is NasState.ONLINE
            inbox.on_change = self.async_publish
        self._moving = asyncio.Lock()
        """Held while the state changes and its side effects run."""
        # What a transition does besides changing the state: by the pair of states,
        # and by the state entered from anywhere.
        self._move_effects: Mapping[
            tuple[NasState, NasState], tuple[Callable[[], Awaitable[None]], ...]
        ] = {(NasState.OFFLINE, NasState.BOOTING): (self._send_wake_on_lan,)}
        self._enter_effects: Mapping[
            NasState, tuple[Callable[[], Awaitable[None]], ...]
        ] = {
            NasState.ONLINE: (self._dns_to_nas, self._start_flush),
            NasState.OFFLINE: (self._dns_to_pi,),
        }

    async def async_restore(self) -> None:
        """Resume the state stored before a restart (booting resumes fast polling).

        The NAS plug's power at the last change is kept for ``async_follow_plug``.
        """
        stored = await self._store.async_load()
        self.machine = NasStateMachine.from_dict(stored, clock=dt_util.utcnow)
        if stored is not None and isinstance(power := stored.get("power"), str):
            with contextlib.suppress(ValueError):
                self._stored_power = NasPower(power)
        await self.snapshots.async_load()
        if self.dns is not None:
            # The record may have been changed while Home Assistant was down: the
            # first heartbeat puts it where the restored state wants it.
            self.dns.wanted = _DNS_TARGETS.get(self.machine.state)
        self._set_interval()

    @callback
    def async_follow_plug(self, plug: PlugCoordinator) -> None:
        """Take the NAS plug's power into account at every one of its readings.

        Until its first reading, the power stored at the last change before the
        restart stands in: a restart must not wake a sleeping NAS with a health check.
        """
        self._nas_plug = plug
        self._power = self._stored_power
        self._read_power()
        self.config_entry.async_on_unload(plug.async_add_listener(self._plug_updated))

    @property
    def status(self) -> NasStatus:
        """The current status, built from what is known now."""
        return NasStatus(
            self.machine.state,
            self.machine.since,
            self._power,
            self._sample,
            self.snapshots.current,
            self.dns.status if self.dns is not None else None,
            self.inbox.status if self.inbox is not None else None,
        )

    async def _async_update_data(self) -> NasStatus:
        dns_checked = False
        if (
            self.dns is not None
            and self.config_entry.state is ConfigEntryState.SETUP_IN_PROGRESS
        ):
            # Setting up: a Pi-hole that rejects the stored password fails the setup
            # and asks for it (reauth). One that does not answer does not: the DNS
            # switch is tried again at every heartbeat, and the rest of BaluPi (the
            # NAS's state, its pushes, Wake-on-LAN, the plugs) needs no Pi-hole.
            await self.dns.async_check()
            if self.dns.rejected:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN,
                    translation_key="pihole_auth",
                    translation_placeholders={"url": self.dns.settings.url},
                )
            dns_checked = True
        http_ok: bool | None = None
        if ask_health_endpoint(
            self.machine.state,
            self._power_evidence,
            spare_sleeping_nas=self._options.spare_sleeping_nas,
        ):
            sample = await self._check_health()
            http_ok = sample.reachable
            self._failures = 0 if http_ok else self._failures + 1
        else:
            sample = HeartbeatSample(
                dt_util.utcnow(), None, "not asked: the NAS plug says it sleeps"
            )
        self._log_change(sample)
        self._sample = sample
        verdict = judge(
            self.machine.state,
            Evidence(http_ok, self._failures, self._power_evidence),
            failure_threshold=self._options.heartbeat_failures,
        )
        if verdict.state is None and self._boot_took_too_long():
            verdict = Verdict(
                NasState.OFFLINE, "the boot timeout passed", Cause.BOOT_TIMEOUT
            )
            self._raise_boot_timeout_issue()
        await self._apply(verdict)
        if self.dns is not None and not dns_checked:
            await self.dns.async_check()
        if self.inbox is not None:
            await self.inbox.async_scan()
        return self.status

    async def _check_health(self) -> HeartbeatSample:
        checked_at = dt_util.utcnow()
        try:
            health = await fetch_health(
                self._session, self._connection.nas_url, timeout=HEALTH_TIMEOUT
            )
        except NasError as err:
            sample = HeartbeatSample(checked_at, None, str(err))
        else:
            sample = HeartbeatSample(checked_at, health, None)
            if health.version is not None and health.version != self._nas_version:
                self._nas_version = health.version
                dr.async_get(self.hass).async_update_device(
                    self._nas_device_id, sw_version=health.version
                )
        return sample

    def _log_change(self, sample: HeartbeatSample) -> None:
        was_reachable = self._sample.reachable if self._sample is not None else True
        if was_reachable and not sample.reachable:
            LOGGER.info(
                "BaluHost NAS at %s is not answering: %s",
                self._connection.nas_url,
                sample.error,
            )
        elif not was_reachable and sample.reachable:
            LOGGER.info(
                "BaluHost NAS at %s is answering again", self._connection.nas_url
            )

    @callback
    def _plug_updated(self) -> None:
        """Let the plug's power alone move the state, at once.

        A failed read is no news: the state stays where the last reading left it.
        """
        if not self._read_power():
            return
        verdict = judge(
            self.machine.state,
            Evidence(None, self._failures, self._power),
            failure_threshold=self._options.heartbeat_failures,
        )
        self.config_entry.async_create_background_task(
            self.hass, self._apply_and_publish(verdict), "balupi NAS plug verdict"
        )

    async def _apply_and_publish(self, verdict: Verdict) -> None:
        await self._apply(verdict)
        self.async_publish()

    @callback
    def async_publish(self) -> None:
        """Show the current status without touching the heartbeat's schedule.

        Not async_set_updated_data: that would push the next heartbeat back at
        every plug reading, and with equal intervals the heartbeat would never run.
        """
        self.data = self.status
        self.async_update_listeners()

    @property
    def _power_evidence(self) -> NasPower | None:
        """What the plug says about the NAS now; None when it cannot say."""
        return None if self._power_predates_push else self._power

    def _read_power(self) -> bool:
        """Take the plug's latest reading; return whether there was a new one."""
        plug = self._nas_plug
        reading = plug.data if plug is not None and plug.last_update_success else None
        if reading is None or reading.power is None:
            return False
        self._power_predates_push = False
        self._power = classify_nas_power(
            reading.power,
            self._power,
            off_below=self._options.power_off_below,
            standby_max=self._options.standby_max,
            active_above=self._options.active_above,
        )
        return True

    async def _apply(self, verdict: Verdict) -> None:
        if verdict.state is None:
            return
        async with self._moving:
            transition = self.machine.go(verdict.state, verdict.reason)
            if transition is not None:
                await self._transitioned(transition, verdict.cause)

    async def _transitioned(self, transition: Transition, cause: Cause | None) -> None:
        LOGGER.info(
            "NAS %s → %s: %s", transition.old, transition.new, transition.reason
        )
        stored = self.machine.as_dict()
        if (power := self._power_evidence) is not None:
            stored["power"] = power.value
        await self._store.async_save(stored)
        for effect in (
            *self._move_effects.get((transition.old, transition.new), ()),
            *self._enter_effects.get(transition.new, ()),
        ):
            await effect()
        if transition.new is NasState.ONLINE:
            ir.async_delete_issue(
                self.hass, DOMAIN, boot_timeout_issue_id(self.config_entry)
            )
        self._set_interval()
        event: dict[str, Any] = {
            "entry_id": self.config_entry.entry_id,
            "old_state": transition.old.value,
            "new_state": transition.new.value,
            "reason": transition.reason,
            "cause": cause.value if cause is not None else None,
        }
        self.hass.bus.async_fire(EVENT_NAS_STATE_CHANGED, event)

    def _set_interval(self) -> None:
        seconds = (
            self._options.fast_heartbeat_interval
            if self.machine.state is NasState.BOOTING
            else self._options.heartbeat_interval
        )
        self.update_interval = timedelta(seconds=seconds)

    def _boot_took_too_long(self) -> bool:
        return self.machine.state is NasState.BOOTING and dt_util.utcnow() - (
            self.machine.since
        ) > timedelta(seconds=self._options.boot_timeout)

    def _raise_boot_timeout_issue(self) -> None:
        LOGGER.warning(
            "The NAS at %s did not come up within %s s after Wake-on-LAN",
            self._connection.nas_url,
            self._options.boot_timeout,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            boot_timeout_issue_id(self.config_entry),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="boot_timeout",
            translation_placeholders={
                "nas_url": self._connection.nas_url,
                "timeout": str(self._options.boot_timeout),
            },
        )

    async def async_wake(self) -> None:
        """Wake the NAS, or say why not (translated, for the button)."""
        state, power = self.machine.state, self._power_evidence
        refusal = None
        if state is NasState.ONLINE:
            refusal = "wake_already_online"
        elif state is NasState.BOOTING:
            refusal = "wake_already_booting"
        elif power is NasPower.ACTIVE:
            refusal = "wake_already_running"
        elif power is NasPower.OFF:
            refusal = "wake_no_power"
        elif state is not NasState.OFFLINE:
            refusal = "wake_state_unknown"
        if refusal is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=refusal,
                translation_placeholders={"state": state.value},
            )
        await self._apply(
            Verdict(NasState.BOOTING, "Wake-on-LAN requested", Cause.WAKE_REQUESTED)
        )
        self.async_set_updated_data(self.status)

    async def _send_wake_on_lan(self) -> None:
        await send_magic_packet(
            self._connection.nas_mac,
            broadcast=self._options.wol_broadcast,
            port=self._options.wol_port,
        )
        LOGGER.info(
            "Wake-on-LAN sent to %s via %s:%s",
            self._connection.nas_mac,
            self._options.wol_broadcast,
            self._options.wol_port,
        )

    async def _dns_to_nas(self) -> None:
        if self.dns is not None:
            await self.dns.async_switch(DnsTarget.NAS)

    async def _dns_to_pi(self) -> None:
        if self.dns is not None:
            await self.dns.async_switch(DnsTarget.PI)

    async def _start_flush(self) -> None:
        if self.inbox is not None:
            self.start_flush(self.inbox)

    def start_flush(self, inbox: InboxFlusher) -> asyncio.Task[FlushResult]:
        """Flush the inbox (or join the flush that runs); it shows its outcome."""
        task = inbox.start()
        self.async_publish()
        return task

    # -- The NAS's pushes --------------------------------------------------------

    async def async_nas_going_offline(self, snapshot: Any) -> dict[str, Any]:
        """The NAS is shutting down: keep its snapshot, point the hostname at the Pi.

        Returns the reply BaluHost reads (``acknowledged``, ``dns_switched``). A
        snapshot that cannot be kept is dropped (the keeper says why); the push acts
        all the same.
        """
        if snapshot is not None:
            kept = await self.snapshots.async_keep(snapshot)
            if kept is not None and (version := kept.baluhost_version) is not None:
                dr.async_get(self.hass).async_update_device(
                    self._nas_device_id, sw_version=version
                )
        deadline = asyncio.get_running_loop().time() + PUSH_REPLY_BUDGET
        reply: dict[str, Any] = {"acknowledged": True, "dns_switched": False}
        work = self.config_entry.async_create_background_task(
            self.hass, self._went_offline(), "balupi NAS going offline"
        )
        done = await _done_by(work, deadline)
        if self.dns is not None:
            reply["dns_switched"] = done and self.dns.points_to(DnsTarget.PI)
            if not done:
                reply["dns_switch"] = "running"
        return reply

    def _pushed(self) -> None:
        """The NAS said what it does: older readings and failures are history."""
        self._power_predates_push = True
        self._failures = 0

    async def _went_offline(self) -> None:
        self._pushed()
        # From online through shutting down; from booting or unknown straight on.
        if self.machine.state is NasState.ONLINE:
            await self._apply(
                Verdict(
                    NasState.SHUTTING_DOWN,
                    "the NAS is shutting down",
                    Cause.SHUTDOWN_PUSH,
                )
            )
        await self._apply(
            Verdict(
                NasState.OFFLINE, "the NAS stopped its services", Cause.SHUTDOWN_PUSH
            )
        )
        if self.dns is not None:
            await self.dns.async_ensure(DnsTarget.PI)
        self.async_publish()

    async def async_nas_coming_online(self) -> dict[str, Any]:
        """The NAS's services started: point the hostname at it, flush the inbox.

        Returns the reply BaluHost reads (``acknowledged``, ``inbox_flushed``,
        ``files_transferred``, ``dns_switched``); a flush that takes longer than
        the reply may wait carries on, and the reply says so.
        """
        deadline = asyncio.get_running_loop().time() + PUSH_REPLY_BUDGET
        reply: dict[str, Any] = {
            "acknowledged": True,
            "dns_switched": False,
            "inbox_flushed": False,
            "files_transferred": 0,
        }
        work = self.config_entry.async_create_background_task(
            self.hass, self._came_online(), "balupi NAS coming online"
        )
        done = await _done_by(work, deadline)
        if self.dns is not None:
            reply["dns_switched"] = done and self.dns.points_to(DnsTarget.NAS)
            if not done:
                reply["dns_switch"] = "running"
        if self.inbox is not None:
            flush = self.start_flush(self.inbox)
            if not await _done_by(flush, deadline):
                reply["inbox_flush"] = "running"
            elif not flush.cancelled() and flush.exception() is None:
                result = flush.result()
                reply["files_transferred"] = result.files_transferred
                reply["inbox_flushed"] = result.files_transferred > 0
            else:
                reply["inbox_flush"] = "failed"
        return reply

    async def _came_online(self) -> None:
        self._pushed()
        await self._apply(
            Verdict(NasState.ONLINE, "the NAS started its services", Cause.STARTUP_PUSH)
        )
        if self.dns is not None:
            await self.dns.async_ensure(DnsTarget.NAS)
        self.async_publish()


_DNS_TARGETS = {NasState.ONLINE: DnsTarget.NAS, NasState.OFFLINE: DnsTarget.PI}


async def _done_by(task: asyncio.Future[Any], deadline: float) -> bool:
    """Wait for ``task`` until ``deadline`` (loop time) without cancelling it."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining > 0 and not task.done():
        await asyncio.wait({task}, timeout=remaining)
    return task.done()
