"""Finish Home Assistant's onboarding and add BaluPi, through HA's own REST API.

Used by scripts/develop once Home Assistant answers. Walking the config flow over
REST is exactly what the frontend does, so this also proves that the flow is reachable
from outside. Every step is answered with the loopback simulators: the NAS, the Tapo
plugs, the Pi-hole (``pihole`` step) and, when the machine has ``sshd``, the NAS's SSH
(``inbox`` step: BaluPi's public key from the form is authorized there first).

Every run then walks the entry's reconfigure flow with these settings (NAS, secret,
Pi-hole, inbox) and its options flow (the demo's inbox settle time), so both are
exercised against the running Home Assistant. Idempotent: a second run signs in with
the development login and starts at the reconfigure flow, so an entry made before these
steps existed, or with another secret, is brought up to date.

``--check`` then verifies, over REST only, what BaluPi did with the simulators: the
DNS record in the Pi-hole, the inbox sensor, and a signed ``nas-coming-online`` push
sent exactly as the NAS sends it, whose reply must report the flushed file. With the
NAS simulator's control endpoints (``--nas-control``) it also puts the NAS to sleep,
waits for BaluPi to say offline, presses *Wake up* and waits for online: the magic
packet must have gone to loopback and woken the NAS, and no health check may have
woken it.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import json
from pathlib import Path
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from simulators.nas_push import NasPushClient
from simulators.sshd import SshServer

CLIENT_ID = "http://127.0.0.1:8123/"
TAPO_USERNAME = "user@example.com"  # what simulators.tapo accepts by default
TAPO_PASSWORD = "tapo-secret"  # noqa: S105
# Entered as the handshake secret, so the checks can sign pushes like the NAS does.
DEV_SECRET = "balupi-development-handshake-secret-0123456789"  # noqa: S105
CHECK_FILE_TEXT = "Dropped into the Pi's inbox by scripts/develop --check.\n"
BRAND = (
    Path(__file__).resolve().parent.parent / "custom_components" / "balupi" / "brand"
)
DEV_SETTLE_TIME = 5
"""The inbox settle time in the demo (the default is 60 s): files dropped into the
demo inbox reach the simulated NAS a few seconds after the next heartbeat."""


@dataclass(frozen=True, slots=True)
class Inbox:
    """The inbox step's answers: the Pi's folder, and the NAS's folder over SSH."""

    folder: Path
    nas_path: Path
    ssh_user: str
    ssh_port: int
    sshd_directory: Path
    """Where the NAS's ``sshd`` (``simulators.sshd.SshServer``) keeps its files."""


@dataclass(frozen=True, slots=True)
class DevSettings:
    """Everything the bootstrap enters in BaluPi's config flow."""

    nas_url: str
    nas_mac: str
    pi_ip: str
    secret: str
    plugs: list[str]
    pihole_url: str
    pihole_password: str
    dns_hostname: str
    inbox: Inbox | None
    wol_port: int | None = None
    """The NAS simulator's magic-packet listener on 127.0.0.1 (None: not set)."""
    nas_control: str | None = None
    """The NAS simulator's control endpoints (None: not checked)."""

    @property
    def nas_ip(self) -> str:
        """The NAS's IP, as the flow derives it from the URL."""
        return urlsplit(self.nas_url).hostname or ""


class BootstrapError(Exception):
    """Home Assistant did not do what the bootstrap expected."""


def prepare_onboarding(config_dir: Path) -> None:
    """Mark the onboarding steps after the owner as done, before Home Assistant starts.

    Finishing the "core config" step over the API sets up met.no, Google Translate and
    Radio Browser, which reach the Internet. The development instance runs against
    loopback simulators only, so only the owner is created through the API.
    """
    store = config_dir / ".storage" / "onboarding"
    if store.exists():
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(
        json.dumps(
            {
                "version": 4,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ["core_config", "analytics", "integration"]},
            }
        )
    )


async def wait_for_home_assistant(
    session: aiohttp.ClientSession, base: str, timeout: float
) -> None:
    """Wait until Home Assistant serves its frontend manifest."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(f"{base}/manifest.json") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise BootstrapError(
                f"Home Assistant did not answer at {base} in {timeout:g} s"
            )
        await asyncio.sleep(1)


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    if response.status >= 400:
        raise BootstrapError(f"{what}: HTTP {response.status}: {await response.text()}")
    return await response.json()


async def token_from_code(session: aiohttp.ClientSession, base: str, code: str) -> str:
    """Exchange an authorization code for an access token."""
    async with session.post(
        f"{base}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
    ) as response:
        token: str = (await _json(response, "token"))["access_token"]
        return token


async def onboard(
    session: aiohttp.ClientSession, base: str, username: str, password: str
) -> str:
    """Create the owner (the last open onboarding step); return an access token."""
    async with session.post(
        f"{base}/api/onboarding/users",
        json={
            "client_id": CLIENT_ID,
            "name": "BaluPi Developer",
            "username": username,
            "password": password,
            "language": "en",
        },
    ) as response:
        code = (await _json(response, "onboarding user"))["auth_code"]
    return await token_from_code(session, base, code)


async def login(
    session: aiohttp.ClientSession, base: str, username: str, password: str
) -> str:
    """Sign in through the login flow, as the frontend does; return an access token."""
    async with session.post(
        f"{base}/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": ["homeassistant", None],
            "redirect_uri": CLIENT_ID,
        },
    ) as response:
        flow_id = (await _json(response, "login flow"))["flow_id"]
    async with session.post(
        f"{base}/auth/login_flow/{flow_id}",
        json={"client_id": CLIENT_ID, "username": username, "password": password},
    ) as response:
        result = await _json(response, "login")
    if result.get("type") != "create_entry":
        raise BootstrapError(f"login refused for {username!r}: {result.get('errors')}")
    return await token_from_code(session, base, result["result"])


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    body: dict[str, Any],
    what: str,
) -> Any:
    async with session.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return await _json(response, what)


def _select_values(step: dict[str, Any], field: str) -> list[str]:
    """The option values a select field of a flow form offers."""
    for item in step["data_schema"]:
        if item["name"] == field:
            return [option["value"] for option in item["selector"]["select"]["options"]]
    raise BootstrapError(f"no field {field!r} in {step}")


def _step_of(step: dict[str, Any], step_id: str) -> dict[str, Any]:
    """``step`` if it is the form ``step_id`` of the flow, else a clear error."""
    if step.get("type") != "form" or step.get("step_id") != step_id:
        raise BootstrapError(f"expected BaluPi's {step_id!r} form, got {step}")
    return step


async def _answer(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    body: dict[str, Any],
    what: str,
) -> dict[str, Any]:
    """Submit one form; a form shown again with errors is a failure."""
    step: dict[str, Any] = await _post(session, url, token, body, what)
    if step.get("errors"):
        raise BootstrapError(f"BaluPi's {what} step refused {body}: {step['errors']}")
    return step


async def _pihole_and_inbox(
    session: aiohttp.ClientSession,
    step_url: str,
    token: str,
    step: dict[str, Any],
    settings: DevSettings,
) -> dict[str, Any]:
    """Answer the ``pihole`` and ``inbox`` steps; return the step after them.

    The inbox form shows BaluPi's public key; it goes into the NAS user's
    ``authorized_keys`` (the simulated NAS's ``sshd``) before the step is submitted,
    as the form asks the user to do.
    """
    _step_of(step, "pihole")
    step = await _answer(
        session,
        step_url,
        token,
        {
            "pihole_url": settings.pihole_url,
            "pihole_password": settings.pihole_password,
            "dns_hostname": settings.dns_hostname,
        },
        "pihole",
    )
    step = _step_of(step, "inbox")
    inbox = settings.inbox
    if inbox is None:
        return await _answer(session, step_url, token, {}, "inbox")
    public_key = (step.get("description_placeholders") or {}).get("public_key")
    if not public_key:
        raise BootstrapError(f"the inbox form shows no public_key: {step}")
    SshServer(inbox.sshd_directory).authorize(public_key)
    return await _answer(
        session,
        step_url,
        token,
        {
            "inbox_folder": str(inbox.folder),
            "nas_inbox_path": str(inbox.nas_path),
            "ssh_user": inbox.ssh_user,
            "ssh_port": inbox.ssh_port,
        },
        "inbox",
    )


async def _balupi_entry(
    session: aiohttp.ClientSession, base: str, token: str
) -> dict[str, Any] | None:
    """BaluPi's config entry as the REST API lists it, or None."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(
        f"{base}/api/config/config_entries/entry", headers=headers
    ) as response:
        entries = await _json(response, "config entries")
    return next((e for e in entries if e["domain"] == "balupi"), None)


async def _connection(
    session: aiohttp.ClientSession,
    step_url: str,
    token: str,
    settings: DevSettings,
    *,
    with_mac: bool,
) -> dict[str, Any]:
    """Answer the connection step and the NAS's confirmation; return the next step."""
    connection = {
        "nas_url": settings.nas_url,
        "pi_ip": settings.pi_ip,
        "handshake_secret": settings.secret,
    }
    if with_mac:
        connection["nas_mac"] = settings.nas_mac
    step = await _answer(session, step_url, token, connection, "connection")
    # What the user is told to enter on the NAS; it must be the secret entered.
    shown = (step.get("description_placeholders") or {}).get("secret")
    if shown not in (None, settings.secret):
        raise BootstrapError(f"BaluPi shows another secret than entered: {shown!r}")
    # The NAS answered (form) or not (menu: save anyway).
    answer = {"next_step_id": "finish"} if step["type"] == "menu" else {}
    confirmed: dict[str, Any] = await _post(
        session, step_url, token, answer, "BaluPi NAS confirmation"
    )
    return confirmed


async def add_balupi(
    session: aiohttp.ClientSession, base: str, token: str, settings: DevSettings
) -> str:
    """Walk BaluPi's config flow over REST unless an entry exists; return what it did.

    A new entry goes through every step. The first of ``settings.plugs``
    (``host:port``) is added at setup as the NAS's plug, the others through the
    "Add Tapo plug" flow, exactly as a user would.
    """
    if await _balupi_entry(session, base, token) is not None:
        return "entry exists"
    flow_url = f"{base}/api/config/config_entries/flow"
    step = await _post(session, flow_url, token, {"handler": "balupi"}, "start BaluPi")
    step_url = f"{flow_url}/{step['flow_id']}"
    step = await _connection(session, step_url, token, settings, with_mac=True)
    plugs = settings.plugs
    account = {"tapo_username": TAPO_USERNAME, "tapo_password": TAPO_PASSWORD}
    if not plugs:
        step = await _post(session, step_url, token, {}, "BaluPi without plugs")
    else:
        step = await _post(
            session, step_url, token, {**account, "plug_host": plugs[0]}, "Tapo account"
        )
        if step.get("errors"):
            raise BootstrapError(f"the NAS plug at {plugs[0]}: {step['errors']}")
        macs = _select_values(step, "plugs")
        step = await _post(
            session, step_url, token, {"plugs": macs, "nas_plug": macs[0]}, "plugs"
        )
    step = await _pihole_and_inbox(session, step_url, token, step, settings)
    if step["type"] != "create_entry" or step["result"]["state"] != "loaded":
        raise BootstrapError(f"BaluPi flow ended with {step}")
    entry_id = step["result"]["entry_id"]
    sub_url = f"{base}/api/config/config_entries/subentries/flow"
    for plug in plugs[1:]:
        sub = await _post(
            session, sub_url, token, {"handler": [entry_id, "plug"]}, "add plug"
        )
        sub = await _post(
            session, f"{sub_url}/{sub['flow_id']}", token, {"plug_host": plug}, plug
        )
        if sub["type"] != "create_entry":
            raise BootstrapError(f"adding the plug at {plug} ended with {sub}")
    return f"added and loaded with {len(plugs)} plugs"


async def reconfigure_balupi(
    session: aiohttp.ClientSession, base: str, token: str, settings: DevSettings
) -> str:
    """Walk the entry's reconfigure flow with ``settings``; return once it is loaded.

    NAS, secret, Pi-hole and inbox are entered again (plugs stay); the entry reloads
    once, by itself, and this waits until it runs again.
    """
    entry = await _balupi_entry(session, base, token)
    if entry is None:
        raise BootstrapError("no BaluPi entry to reconfigure")
    entry_id = entry["entry_id"]
    flow_url = f"{base}/api/config/config_entries/flow"
    start = {"handler": "balupi", "entry_id": entry_id}
    step = await _post(session, flow_url, token, start, "start BaluPi reconfigure")
    step_url = f"{flow_url}/{step['flow_id']}"
    step = await _connection(session, step_url, token, settings, with_mac=False)
    step = await _pihole_and_inbox(session, step_url, token, step, settings)
    if step.get("type") != "abort" or step.get("reason") != "reconfigure_successful":
        raise BootstrapError(f"BaluPi's reconfigure flow ended with {step}")
    await _wait_until_loaded(session, base, token, entry_id, "after reconfiguring")
    return "reconfigured with these settings and reloaded"


async def _wait_until_loaded(
    session: aiohttp.ClientSession, base: str, token: str, entry_id: str, when: str
) -> None:
    """Wait until the entry is loaded again after a flow changed it (60 s at most).

    The reload starts before the flow answers (Home Assistant starts tasks eagerly), so
    the entry is unloading or setting up until it runs with the change.
    """
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 60
    while True:
        async with session.get(
            f"{base}/api/config/config_entries/entry", headers=headers
        ) as response:
            entries = await _json(response, "config entries")
        state = next(e["state"] for e in entries if e["entry_id"] == entry_id)
        if state == "loaded":
            return
        if time.monotonic() > deadline:
            raise BootstrapError(f"the BaluPi entry is {state} {when}")
        await asyncio.sleep(0.5)


async def set_options(
    session: aiohttp.ClientSession, base: str, token: str, changes: dict[str, Any]
) -> str:
    """Walk BaluPi's options flow over REST, changing ``changes``; return what it did.

    Every other option keeps the value the form suggests (the current one). An entry
    whose options changed reloads; this returns once it is loaded again.
    """
    entry = await _balupi_entry(session, base, token)
    if entry is None:
        raise BootstrapError("no BaluPi entry for the options")
    entry_id = entry["entry_id"]
    flow_url = f"{base}/api/config/config_entries/options/flow"
    step = await _post(
        session, flow_url, token, {"handler": entry_id}, "start BaluPi options flow"
    )
    step = _step_of(step, "init")
    answer = {
        field["name"]: (field.get("description") or {}).get("suggested_value")
        for field in step["data_schema"]
    }
    answer = {name: value for name, value in answer.items() if value is not None}
    answer.update(changes)
    done = await _post(
        session, f"{flow_url}/{step['flow_id']}", token, answer, "BaluPi options"
    )
    if done.get("type") != "create_entry":
        raise BootstrapError(f"BaluPi's options flow ended with {done}")
    await _wait_until_loaded(session, base, token, entry_id, "after its options")
    return f"options set ({changes}), entry loaded with them"


async def summary(
    session: aiohttp.ClientSession, base: str, token: str, expect_plugs: bool
) -> str:
    """Read BaluPi's key states back through the REST API, waiting for the plugs."""
    wanted = ["binary_sensor.baluhost_nas_reachable"]
    if expect_plugs:
        wanted += ["sensor.balupi_total_power", "sensor.baluhost_nas_power_state"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(30):
        async with session.get(f"{base}/api/states", headers=headers) as response:
            states = {s["entity_id"]: s for s in await _json(response, "states")}
        found = [states.get(entity_id) for entity_id in wanted]
        if all(
            s is not None and s["state"] not in ("unknown", "unavailable")
            for s in found
        ):
            return ", ".join(
                f"{s['entity_id']}={s['state']}{s['attributes'].get('unit_of_measurement', '')}"
                for s in found
                if s is not None
            )
        await asyncio.sleep(1)
    raise BootstrapError(f"BaluPi's entities did not report: {found}")


async def _states(
    session: aiohttp.ClientSession, base: str, token: str
) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/api/states", headers=headers) as response:
        return {s["entity_id"]: s for s in await _json(response, "states")}


async def wait_for_state(
    session: aiohttp.ClientSession,
    base: str,
    token: str,
    entity_id: str,
    accept: Any = None,
    timeout: float = 30,
) -> str:
    """Wait until ``entity_id`` has a state (equal to ``accept`` when given)."""
    deadline = time.monotonic() + timeout
    while True:
        state = (await _states(session, base, token)).get(entity_id)
        value = None if state is None else state["state"]
        if value not in (None, "unknown", "unavailable") and (
            accept is None or value == accept
        ):
            return str(value)
        if time.monotonic() > deadline:
            wanted = "a state" if accept is None else repr(accept)
            seen = "no such entity" if state is None else repr(value)
            raise BootstrapError(f"{entity_id}: expected {wanted}, got {seen}")
        await asyncio.sleep(1)


async def pihole_records(
    session: aiohttp.ClientSession, url: str, password: str
) -> list[str]:
    """The Pi-hole's local DNS records, read over its v6 API in one session."""
    async with session.post(f"{url}/api/auth", json={"password": password}) as reply:
        sid = (await _json(reply, "Pi-hole login"))["session"]["sid"]
    headers = {"X-FTL-SID": sid}
    try:
        async with session.get(f"{url}/api/config/dns/hosts", headers=headers) as reply:
            hosts: list[str] = (await _json(reply, "Pi-hole records"))["config"]["dns"][
                "hosts"
            ]
    finally:
        # Pi-hole has 16 session seats: give this one back.
        async with session.delete(f"{url}/api/auth", headers=headers):
            pass
    return hosts


async def nas_control(
    session: aiohttp.ClientSession, url: str, action: str | None = None
) -> dict[str, Any]:
    """Drive the NAS simulator (POST ``action``), or read it; its status."""
    method, path = ("GET", "") if action is None else ("POST", action)
    async with session.request(method, f"{url}/{path}") as reply:
        status: dict[str, Any] = await _json(reply, f"NAS control {method} /{path}")
    return status


SLEEP_SEEN_WITHIN = 45
"""Seconds BaluPi may take to call the sleeping NAS offline: one plug poll (30 s)."""
WAKE_SEEN_WITHIN = 45
"""Seconds from *Wake up* to online: the simulated boot (3 s) and fast heartbeats."""


async def check_sleep_and_wake(
    session: aiohttp.ClientSession, base: str, token: str, control: str
) -> list[str]:
    """The NAS sleeps and is woken by Wake-on-LAN; BaluPi never wakes it itself."""
    done: list[str] = []
    status = await nas_control(session, control)
    if status["plug"] is None:
        raise BootstrapError("the NAS simulator runs without its plug")
    await nas_control(session, control, "sleep")
    state = await wait_for_state(
        session, base, token, "sensor.baluhost_nas_state", "offline", SLEEP_SEEN_WITHIN
    )
    power = await wait_for_state(
        session, base, token, "sensor.baluhost_nas_power_state", "standby", 5
    )
    status = await nas_control(session, control)
    if status["nas"]["condition"] != "asleep" or status["nas"]["request_wakeups"]:
        raise BootstrapError(f"a health check woke the sleeping NAS: {status['nas']}")
    done.append(
        f"NAS put to sleep: BaluPi says {state} ({power}), the NAS still sleeps "
        f"(wake-ups by a health check: {status['nas']['request_wakeups']})"
    )
    packets = status["nas"]["wake_on_lan"]["packets"]
    await _post(
        session,
        f"{base}/api/services/button/press",
        token,
        {"entity_id": "button.baluhost_nas_wake_up"},
        "press Wake up",
    )
    state = await wait_for_state(
        session, base, token, "sensor.baluhost_nas_state", "online", WAKE_SEEN_WITHIN
    )
    status = await nas_control(session, control)
    nas = status["nas"]
    if nas["wake_on_lan"]["packets"] <= packets or nas["request_wakeups"]:
        raise BootstrapError(f"the NAS was not woken by its magic packet: {nas}")
    done.append(
        f"Wake up pressed: magic packet at udp 127.0.0.1:{nas['wake_on_lan']['port']}, "
        f"NAS woken by {nas['wakeups'][-1]['by']}, BaluPi says {state}; "
        f"wake-ups by a health check: {nas['request_wakeups']}"
    )
    return done


async def check(
    session: aiohttp.ClientSession, base: str, token: str, settings: DevSettings
) -> list[str]:
    """Verify what BaluPi did with the simulators; one line per check."""
    done: list[str] = []
    hostname = settings.dns_hostname
    dns = await wait_for_state(
        session, base, token, "sensor.balupi_dns_points_to", "nas"
    )
    done.append(f"sensor.balupi_dns_points_to={dns}")

    hosts = await pihole_records(session, settings.pihole_url, settings.pihole_password)
    ours = [record for record in hosts if hostname in record.split()[1:]]
    if ours != [f"{settings.nas_ip} {hostname}"]:
        raise BootstrapError(
            f"the Pi-hole should hold one {hostname} record at {settings.nas_ip}, "
            f"it holds {hosts}"
        )
    done.append(f"Pi-hole holds one {hostname} record: {ours[0]!r} (all: {hosts})")

    if settings.inbox is not None:
        files = await wait_for_state(session, base, token, "sensor.balupi_inbox_files")
        done.append(f"sensor.balupi_inbox_files={files}")
        # A name of its own each run: the NAS side never replaces a different file.
        check_file = settings.inbox.folder / f"develop-check-{int(time.time())}.txt"
        check_file.write_text(CHECK_FILE_TEXT)
        # The action looks at the inbox: the new file has not settled yet, so it
        # waits; once it has, it goes to the (online) NAS by itself.
        flushed = await _post(
            session,
            f"{base}/api/services/balupi/flush_inbox?return_response",
            token,
            {},
            "balupi.flush_inbox",
        )
        response = flushed.get("service_response", flushed)
        if response.get("files_waiting") != 1:
            raise BootstrapError(f"the new file should wait to settle: {response}")
        done.append(f"balupi.flush_inbox action, file just dropped: {response}")
        arrived = settings.inbox.nas_path / check_file.name
        deadline = time.monotonic() + DEV_SETTLE_TIME + 30
        while not (arrived.is_file() and not check_file.exists()):
            if time.monotonic() > deadline:
                raise BootstrapError(f"{check_file.name} did not move by itself")
            await asyncio.sleep(0.5)
        if arrived.read_text() != CHECK_FILE_TEXT:
            raise BootstrapError(f"{arrived} is not what was dropped")
        arrived.unlink()  # checked; keep the demo NAS inbox tidy
        # The file can be seen at the NAS a moment before its flush has finished; the
        # action joins a running flush and returns once it has, so the push below
        # starts a flush of its own, with nothing left to send.
        await _post(
            session,
            f"{base}/api/services/balupi/flush_inbox?return_response",
            token,
            {},
            "balupi.flush_inbox after the move",
        )
        done.append(
            f"{check_file.name} settled and moved by itself from {check_file.parent} "
            f"to {arrived}"
        )

    done.append(await brand_images(session, base, token))

    push = await NasPushClient(session, base, settings.secret).coming_online()
    body = push.body or {}
    if not push.ok or body.get("acknowledged") is not True:
        raise BootstrapError(f"the nas-coming-online push failed: {push}")
    if body.get("files_transferred") != 0:
        raise BootstrapError(f"nas-coming-online: nothing was left to send: {body}")
    if body.get("dns_switched") is not True:
        raise BootstrapError(f"nas-coming-online: DNS not on the NAS: {body}")
    done.append(f"signed nas-coming-online push (as the NAS sends it): {body}")

    if settings.nas_control is not None:
        done += await check_sleep_and_wake(session, base, token, settings.nas_control)
    return done


async def brand_images(session: aiohttp.ClientSession, base: str, token: str) -> str:
    """BaluPi's own brand images, as Home Assistant 2026.3 and later serve them.

    Earlier releases have no ``/api/brands`` (404): the check says so and passes. Only
    the shipped names are asked for: any other would go to the brands CDN.
    """
    served: list[str] = []
    for image in sorted(BRAND.iterdir()):
        async with session.get(
            f"{base}/api/brands/integration/balupi/{image.name}",
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            if response.status == 404 and not served:
                return "brand images: this Home Assistant has no /api/brands (< 2026.3)"
            body = await response.read()
        if response.status != 200 or body != image.read_bytes():
            raise BootstrapError(
                f"/api/brands/integration/balupi/{image.name} is not BaluPi's "
                f"brand/{image.name} (HTTP {response.status}, {len(body)} bytes)"
            )
        served.append(image.name)
    return f"brand images served from custom_components/balupi/brand/: {served}"


def read_sshd(ready: Path, timeout: float) -> dict[str, Any]:
    """What scripts/dev_sshd.py wrote once its ``sshd`` greets (waits for it)."""
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if time.monotonic() > deadline:
            raise BootstrapError(f"the NAS's sshd did not start ({ready} missing)")
        time.sleep(0.2)
    info: dict[str, Any] = json.loads(ready.read_text())
    if "error" in info:
        raise BootstrapError(f"the NAS's sshd did not start: {info['error']}")
    return info


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8123")
    parser.add_argument("--username", default="dev")
    parser.add_argument("--password", default="balupi-dev")
    parser.add_argument("--nas-url", default="http://127.0.0.1:18000")
    parser.add_argument("--nas-mac", default="02:ba:10:00:00:01")
    parser.add_argument("--pi-ip", default="127.0.0.1")
    parser.add_argument("--secret", default=DEV_SECRET, help="the handshake secret")
    parser.add_argument(
        "--plug",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a simulated Tapo plug to add; the first one powers the NAS",
    )
    parser.add_argument("--pihole-url", default="http://127.0.0.1:18080")
    parser.add_argument("--pihole-password", default="pihole-secret")
    parser.add_argument("--dns-hostname", default="baluhost.local")
    parser.add_argument(
        "--wol-port",
        type=int,
        help="send magic packets to this UDP port of 127.0.0.1 (the NAS simulator's)",
    )
    parser.add_argument(
        "--nas-control",
        metavar="URL",
        help="the NAS simulator's control endpoints (for --check and the summary)",
    )
    parser.add_argument(
        "--sshd-ready",
        type=Path,
        metavar="FILE",
        help="scripts/dev_sshd.py's ready file; without it the inbox step is skipped",
    )
    parser.add_argument(
        "--inbox-folder",
        type=Path,
        default=Path("config/balupi-inbox"),
        help="the Pi's inbox folder (created by BaluPi)",
    )
    parser.add_argument(
        "--nas-inbox",
        type=Path,
        default=Path("config/nas-inbox"),
        help="the NAS's inbox folder, reached over the sshd (created here)",
    )
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument(
        "--check",
        action="store_true",
        help="then verify the DNS record, the inbox and a signed push from the NAS",
    )
    parser.add_argument(
        "--prepare",
        type=Path,
        metavar="CONFIG_DIR",
        help="only prepare CONFIG_DIR's onboarding state, before Home Assistant starts",
    )
    return parser.parse_args()


def main() -> int:
    """Run the bootstrap; print the login."""
    args = parse_args()
    if args.prepare is not None:
        prepare_onboarding(args.prepare)
        return 0
    inbox: Inbox | None = None
    sshd: dict[str, Any] = {}
    if args.sshd_ready is not None:
        sshd = read_sshd(args.sshd_ready, 60)
        args.nas_inbox.mkdir(parents=True, exist_ok=True)
        inbox = Inbox(
            folder=args.inbox_folder.resolve(),
            nas_path=args.nas_inbox.resolve(),
            ssh_user=sshd["user"],
            ssh_port=int(sshd["port"]),
            sshd_directory=Path(sshd["directory"]),
        )
    settings = DevSettings(
        nas_url=args.nas_url,
        nas_mac=args.nas_mac,
        pi_ip=args.pi_ip,
        secret=args.secret,
        plugs=args.plug,
        pihole_url=args.pihole_url.rstrip("/"),
        pihole_password=args.pihole_password,
        dns_hostname=args.dns_hostname,
        inbox=inbox,
        wol_port=args.wol_port,
        nas_control=args.nas_control.rstrip("/") if args.nas_control else None,
    )
    return asyncio.run(run(args, settings, sshd))


async def run(
    args: argparse.Namespace, settings: DevSettings, sshd: dict[str, Any]
) -> int:
    """Onboard, add or reconfigure BaluPi, check it if asked; print the summary."""
    inbox = settings.inbox
    async with aiohttp.ClientSession() as session:
        await wait_for_home_assistant(session, args.base, args.timeout)
        async with session.get(f"{args.base}/api/onboarding") as response:
            # Once onboarding is finished, Home Assistant no longer serves this view.
            steps = (
                [] if response.status == 404 else await _json(response, "onboarding")
            )
        user_done = next((s["done"] for s in steps if s["step"] == "user"), True)
        if user_done:
            token = await login(session, args.base, args.username, args.password)
        else:
            token = await onboard(session, args.base, args.username, args.password)
        balupi = await add_balupi(session, args.base, token, settings)
        balupi += "; " + await reconfigure_balupi(session, args.base, token, settings)
        changes: dict[str, Any] = {"inbox_settle_time": DEV_SETTLE_TIME}
        if settings.wol_port is not None:
            # Magic packets to the simulated NAS on loopback only: nothing leaves the
            # machine (a real installation keeps the broadcast address).
            changes |= {"wol_broadcast": "127.0.0.1", "wol_port": settings.wol_port}
        options = await set_options(session, args.base, token, changes)
        states = await summary(session, args.base, token, bool(args.plug))
        checks = await check(session, args.base, token, settings) if args.check else []
    print(f"Home Assistant: {args.base}")
    print(f"Login:          {args.username} / {args.password}")
    print(f"BaluPi:         {balupi}, NAS simulator at {args.nas_url}")
    print(f"Options:        {options}")
    print(f"Handshake:      secret {settings.secret}")
    print(
        f"Pi-hole:        {settings.pihole_url} (password {settings.pihole_password}), "
        f"switches {settings.dns_hostname}"
    )
    if inbox is None:
        print(
            "Inbox:          skipped: no sshd on this machine "
            "(install openssh-server for the NAS's SSH)"
        )
    else:
        print(
            f"Inbox:          {inbox.folder} -> {inbox.nas_path} over sshd at "
            f"{sshd['host']}:{inbox.ssh_port} as {inbox.ssh_user}"
        )
    print(f"States:         {states}")
    if settings.nas_control is not None:
        url = settings.nas_control
        print(f"NAS control:    {url}/ (status; what each endpoint does)")
        for action in ("sleep", "shutdown", "plug/off", "plug/on", "power-button"):
            print(f"                curl -X POST {url}/{action}")
    for line in checks:
        print(f"Check:          {line}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BootstrapError as err:
        print(f"dev bootstrap failed: {err}", file=sys.stderr)
        sys.exit(1)
