"""The NAS's lifecycle in Home Assistant: heartbeat, plug power and the state machine.

One coordinator per entry runs the heartbeat (every 30 s, every 5 s while the NAS
boots): it reads the NAS plug first, asks the NAS's health endpoint only when the rule
in ``asking`` allows it (a health check wakes a sleeping BaluHost), judges both with
the dual-detection table, moves the persisted state machine, runs the side effects of
each transition and fires ``balupi_nas_state_changed``. It also listens to the NAS
plug's own polls, so power alone moves the state within one plug poll; a plug reading
that falls due with the heartbeat runs it at once, sharing the reading.

The NAS's own pushes (shutting down with a snapshot, coming online) move the state
too. Side effects, as in the product brief: ``→online`` points the hostname at the
NAS and flushes the inbox, ``→offline`` points it at the Pi, ``offline→booting``
sends the magic packet; the snapshot of ``online→shutting_down`` is kept by the push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ServiceValidationError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .asking import Decision, may_ask
from .const import DOMAIN, HEALTH_TIMEOUT, LOGGER
from .detection import Cause, Evidence, Verdict, judge
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
PLUG_READING_FRESH = 1.0
"""Seconds a NAS plug reading counts as taken just now (``asking``): shorter than any
heartbeat, so a heartbeat decides on a reading it took itself, or on the plug poll that
fell due with it and ran it."""
HEARTBEAT_DUE_SLACK = 2.0
"""Seconds before its time that a NAS plug reading may run the heartbeat: the two
timers' random offsets (under 1 s) must not make them read the plug twice. Larger
than ``PLUG_READING_FRESH`` + 1 s, so a heartbeat that its own timer runs always
finds a reading older than ``PLUG_READING_FRESH`` and reads the plug itself."""
SHUTDOWN_TIMEOUT = 120.0
"""Seconds *shutting down* lasts at most after the NAS's shutdown push.

It ends sooner when the NAS plug reads no power (powered off) or the NAS pushes that
it is back (a restart). A NAS without a plug reading, or one that stopped its
services but stays on, is offline after this bound."""
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
    """The state machine's state: the last one known when ``known`` is False."""
    since: datetime
    power: NasPower | None
    """What the NAS plug says; None without a NAS plug, without a reading yet, or
    while the plug cannot be read."""
    sample: HeartbeatSample | None
    """The latest health check sent; None until the first one."""
    snapshot: Snapshot | None = None
    """The snapshot the NAS sent when it last shut down."""
    dns: DnsStatus | None = None
    """Where the hostname points; None without a Pi-hole or before the first look."""
    inbox: InboxStatus | None = None
    """The Pi's inbox; None when no inbox is configured."""
    known: bool = True
    """Whether BaluPi knows where the NAS is now: not while the NAS plug it relies on
    cannot be read (then nothing is asked), unless the NAS has spoken since."""
    reachable: bool | None = None
    """The NAS's API answered (True) or not, or was not asked because the NAS sleeps,
    is off or shuts down (False); None when BaluPi cannot tell."""
    decision: Decision | None = None
    """Why the latest heartbeat asked the NAS or not."""


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
        self._reachable: bool | None = None
        self._decision: Decision | None = None
        self._power: NasPower | None = None
        """The NAS plug's latest successful reading (kept while the plug is away: the
        power bands' dead zone needs the previous state)."""
        self._power_at: datetime | None = None
        """When that reading was taken; None while the plug's latest read failed."""
        self._power_predates_push = False
        """Whether the NAS pushed after the plug's latest reading (which then says
        nothing about the NAS now: it was taken while the NAS booted or ran)."""
        self._blind = True
        """The NAS plug BaluPi relies on could not be read, and the NAS has not spoken
        since: BaluPi asks nothing and does not know where the NAS is."""
        self._goodbye = False
        """The NAS's last word was its shutdown push: it will push again when back."""
        self._beating = asyncio.Lock()
        """Held while a heartbeat runs: the plug's readings do not start another."""
        self._beat_at: datetime | None = None
        """When the latest heartbeat started."""
        self._nas_plug: PlugCoordinator | None = None
        self._shutdown_bound: Callable[[], None] | None = None
        """Cancels the timer that ends *shutting down* (``SHUTDOWN_TIMEOUT``)."""
        self.snapshots = snapshots
        self.dns = dns
        self.inbox = inbox
        if inbox is not None:
            # Settled files go while the NAS is online, never to a NAS that is not or
            # may not be (an SSH connection would wake a sleeping one).
            inbox.may_flush = lambda: (
                self.machine.state is NasState.ONLINE and self._known
            )
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
            NasState.SHUTTING_DOWN: (self._dns_to_pi, self._bound_shutdown),
            NasState.OFFLINE: (self._dns_to_pi,),
        }
        entry.async_on_unload(self._unbound_shutdown)

    async def async_restore(self) -> None:
        """Resume the state stored before a restart (booting resumes fast polling)."""
        stored = await self._store.async_load()
        self.machine = NasStateMachine.from_dict(stored, clock=dt_util.utcnow)
        await self.snapshots.async_load()
        if self.machine.state is NasState.SHUTTING_DOWN:
            await self._bound_shutdown()  # what is left of it
        if self.dns is not None:
            # The record may have been changed while Home Assistant was down: the
            # first heartbeat puts it where the restored state wants it.
            self.dns.wanted = _DNS_TARGETS.get(self.machine.state)
        self._set_interval()

    @callback
    def async_follow_plug(self, plug: PlugCoordinator) -> None:
        """Take the NAS plug's power into account at every one of its readings.

        The heartbeat reads it too, before it decides whether to ask the NAS: the
        first heartbeat at setup reads it before anything is asked, so a restart never
        wakes a NAS that fell asleep while Home Assistant was down.
        """
        self._nas_plug = plug
        self.config_entry.async_on_unload(plug.async_add_listener(self._plug_updated))

    @property
    def status(self) -> NasStatus:
        """The current status, built from what is known now."""
        return NasStatus(
            self.machine.state,
            self.machine.since,
            self._power if self._power_at is not None else None,
            self._sample,
            self.snapshots.current,
            self.dns.status if self.dns is not None else None,
            self.inbox.status if self.inbox is not None else None,
            known=self._known,
            reachable=self._reachable,
            decision=self._decision,
        )

    @property
    def _relies_on_plug(self) -> bool:
        """Whether the rule lets the NAS plug decide the next heartbeat (rows 5-7)."""
        return (
            self._options.spare_sleeping_nas
            and self._nas_plug is not None
            and self.machine.state not in (NasState.BOOTING, NasState.SHUTTING_DOWN)
        )

    @property
    def _known(self) -> bool:
        """Whether BaluPi knows where the NAS is (see ``NasStatus.known``)."""
        return not (self._blind and self._relies_on_plug and not self._goodbye)

    async def _async_update_data(self) -> NasStatus:
        async with self._beating:
            return await self._beat()

    async def _beat(self) -> NasStatus:
        """One heartbeat: read the NAS plug, ask the NAS if the rule allows, judge."""
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
        self._beat_at = dt_util.utcnow()
        if self._relies_on_plug and not self._power_is_fresh():
            await self._read_nas_plug()
        decision = self._decide()
        http_ok: bool | None = None
        if decision.ask:
            sample = await self._check_health()
            http_ok = sample.reachable
            self._failures = 0 if http_ok else self._failures + 1
            self._log_answer(sample)
            self._sample = sample
            self._reachable = http_ok
            self._blind = False
        else:
            self._reachable = None if decision.blind else False
            self._blind = decision.blind
        self._log_decision(decision)
        self._decision = decision
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

    def _decide(self) -> Decision:
        """Apply the rule of ``asking`` to this heartbeat."""
        age = (
            (dt_util.utcnow() - self._power_at).total_seconds()
            if self._power_at is not None
            else None
        )
        return may_ask(
            self.machine.state,
            spare_sleeping_nas=self._options.spare_sleeping_nas,
            nas_plug=self._nas_plug is not None,
            power=self._power if self._power_at is not None else None,
            power_age=age,
            fresh_within=PLUG_READING_FRESH,
        )

    def _power_is_fresh(self) -> bool:
        return self._power_at is not None and (
            dt_util.utcnow() - self._power_at
        ) < timedelta(seconds=PLUG_READING_FRESH)

    async def _read_nas_plug(self) -> None:
        """Read the NAS plug now (its listener takes the reading in)."""
        plug = self._nas_plug
        if plug is None:
            return
        await plug.async_refresh()
        if not plug.last_update_success:
            # Failed again: the plug's listeners only hear of the first failure.
            self._plug_lost()

    def _log_answer(self, sample: HeartbeatSample) -> None:
        """Say once when the NAS stops answering the health checks sent to it."""
        was_reachable = self._sample.reachable if self._sample is not None else True
        if was_reachable and not sample.reachable:
            LOGGER.info(
                "BaluHost NAS at %s did not answer its health check: %s",
                self._connection.nas_url,
                sample.error,
            )
        elif not was_reachable and sample.reachable:
            LOGGER.info(
                "BaluHost NAS at %s answers its health checks again",
                self._connection.nas_url,
            )

    def _log_decision(self, decision: Decision) -> None:
        """Say once whenever BaluPi starts or stops asking the NAS, and why."""
        previous = self._decision
        if previous is not None and previous.why is decision.why:
            return
        # Asking is what a heartbeat does: at setup that goes without saying.
        level = logging.DEBUG if previous is None and decision.ask else logging.INFO
        LOGGER.log(
            level, "BaluHost NAS at %s: %s", self._connection.nas_url, decision.words
        )

    @callback
    def _plug_updated(self) -> None:
        """Let the plug's power alone move the state, at once.

        A failed read means the plug's last reading is no longer current: BaluPi asks
        the NAS nothing until the plug answers again. A reading that falls due with
        the heartbeat, or that says a sleeping or unknown NAS now draws full power,
        runs the heartbeat at once on this very reading.
        """
        was_current = self._power_at is not None
        before = self._power
        if not self._read_power():
            self._plug_lost()
            return
        self._blind = False
        verdict = judge(
            self.machine.state,
            Evidence(None, self._failures, self._power),
            failure_threshold=self._options.heartbeat_failures,
        )
        self.config_entry.async_create_background_task(
            self.hass, self._apply_and_publish(verdict), "balupi NAS plug verdict"
        )
        if self._beating.locked() or not self._relies_on_plug:
            return
        woke = (
            self._power is NasPower.ACTIVE
            and (before is not NasPower.ACTIVE or not was_current)
            and self.machine.state in (NasState.OFFLINE, NasState.UNKNOWN)
        )
        if woke or self._heartbeat_due():
            self.config_entry.async_create_background_task(
                self.hass, self.async_refresh(), "balupi heartbeat on a plug reading"
            )

    def _heartbeat_due(self) -> bool:
        interval = self.update_interval
        return (
            self._beat_at is None
            or interval is None
            or dt_util.utcnow() - self._beat_at
            >= interval - timedelta(seconds=HEARTBEAT_DUE_SLACK)
        )

    @callback
    def _plug_lost(self) -> None:
        """The NAS plug's read failed: its last reading says nothing about now."""
        changed = self._power_at is not None or not self._blind
        self._power_at = None
        self._blind = True
        if changed and self.data is not None:
            self.async_publish()

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
        if self._power_predates_push or self._power_at is None:
            return None
        return self._power

    def _read_power(self) -> bool:
        """Take the plug's latest reading; return whether there was a new one."""
        plug = self._nas_plug
        reading = plug.data if plug is not None and plug.last_update_success else None
        if reading is None or reading.power is None:
            return False
        self._power_predates_push = False
        self._power_at = dt_util.utcnow()
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
        if transition.new in (NasState.ONLINE, NasState.BOOTING):
            self._goodbye = False
        if transition.old is NasState.SHUTTING_DOWN:
            self._unbound_shutdown()
        await self._store.async_save(self.machine.as_dict())
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

    def _pushed(self, *, goodbye: bool) -> None:
        """The NAS said what it does: older readings and failures are history."""
        self._power_predates_push = True
        self._failures = 0
        self._blind = False
        self._goodbye = goodbye
        self._reachable = not goodbye

    async def _went_offline(self) -> None:
        self._pushed(goodbye=True)
        # From online: shutting down, until its plug reads no power or the bound
        # passes. From booting or unknown straight to offline.
        if self.machine.state is NasState.ONLINE:
            verdict = Verdict(
                NasState.SHUTTING_DOWN, "the NAS is shutting down", Cause.SHUTDOWN_PUSH
            )
        else:
            verdict = Verdict(
                NasState.OFFLINE, "the NAS stopped its services", Cause.SHUTDOWN_PUSH
            )
        await self._apply(verdict)
        if self.dns is not None:
            await self.dns.async_ensure(DnsTarget.PI)
        self.async_publish()

    async def _bound_shutdown(self) -> None:
        """End *shutting down* after ``SHUTDOWN_TIMEOUT`` at most (since it began)."""
        self._unbound_shutdown()
        left = (
            SHUTDOWN_TIMEOUT - (dt_util.utcnow() - self.machine.since).total_seconds()
        )
        self._shutdown_bound = async_call_later(
            self.hass, max(0.0, left), self._shutdown_took_long
        )

    @callback
    def _unbound_shutdown(self) -> None:
        if self._shutdown_bound is not None:
            self._shutdown_bound()
            self._shutdown_bound = None

    @callback
    def _shutdown_took_long(self, _now: datetime) -> None:
        self._shutdown_bound = None
        verdict = Verdict(
            NasState.OFFLINE, "the NAS stopped its services", Cause.SHUTDOWN_PUSH
        )
        self.config_entry.async_create_background_task(
            self.hass, self._apply_and_publish(verdict), "balupi NAS shut down"
        )

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
        self._pushed(goodbye=False)
        await self._apply(
            Verdict(NasState.ONLINE, "the NAS started its services", Cause.STARTUP_PUSH)
        )
        if self.dns is not None:
            await self.dns.async_ensure(DnsTarget.NAS)
        self.async_publish()


_DNS_TARGETS = {
    NasState.ONLINE: DnsTarget.NAS,
    NasState.SHUTTING_DOWN: DnsTarget.PI,
    NasState.OFFLINE: DnsTarget.PI,
}


async def _done_by(task: asyncio.Future[Any], deadline: float) -> bool:
    """Wait for ``task`` until ``deadline`` (loop time) without cancelling it."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining > 0 and not task.done():
        await asyncio.wait({task}, timeout=remaining)
    return task.done()
