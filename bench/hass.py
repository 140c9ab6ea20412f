"""Real Home Assistant instances for the benchmark, and how it talks to them.

Each instance runs ``python -m homeassistant`` in a fresh temporary configuration
folder on a free loopback port, with a minimal configuration (no ``default_config``:
its discovery would send traffic to the network). It is onboarded and gets its BaluPi
entry through the real flows over REST (``scripts/dev_bootstrap.py``), exactly as the
frontend would; the sections then use Home Assistant's REST and websocket APIs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
from datetime import datetime
import importlib
import itertools
from pathlib import Path
import sys
import tempfile
import time
from typing import IO, Any, Protocol, cast

import aiohttp

from simulators.server import free_port

from .common import ROOT, BenchError, progress, python_env
from .farm import NAS_MAC, Farm

HOST = "127.0.0.1"
START_TIMEOUT = 240.0
"""Seconds Home Assistant may take to answer after its start."""
STOP_TIMEOUT = 60.0
"""Seconds Home Assistant may take to stop before it is killed."""
USERNAME = "bench"
PASSWORD = "balupi-bench"  # noqa: S105 -- a throwaway login of a temporary instance
SECRET = "balupi-bench-handshake-secret-0123456789-abcdef"  # noqa: S105 -- throwaway
"""The handshake secret entered in the config flow (the bootstrap checks it is shown)."""
LOG_TAIL = 3000
"""Characters of Home Assistant's log shown when it fails."""

CONFIGURATION = """\
# Written by bench.hass: like config/configuration.yaml, on port {port}.
homeassistant:
  name: BaluPi benchmark
  latitude: 52.52
  longitude: 13.40
  elevation: 34
  unit_system: metric
  time_zone: Europe/Berlin
  currency: EUR
  country: DE

http:
  server_host: {host}
  server_port: {port}

frontend:
config:
history:
logbook:
energy:
recorder:
  purge_keep_days: 3

logger:
  default: warning
  logs:
    custom_components.balupi: {balupi_log_level}
"""


class _Bootstrap(Protocol):
    """The part of scripts/dev_bootstrap.py that the benchmark uses."""

    BootstrapError: type[Exception]
    DevSettings: Callable[..., Any]

    def prepare_onboarding(self, config_dir: Path) -> None: ...

    async def wait_for_home_assistant(
        self, session: aiohttp.ClientSession, base: str, timeout: float
    ) -> None: ...

    async def onboard(
        self, session: aiohttp.ClientSession, base: str, username: str, password: str
    ) -> str: ...

    async def add_balupi(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        settings: Any,
    ) -> str: ...


def _bootstrap() -> _Bootstrap:
    """Import scripts/dev_bootstrap.py (scripts/ is no package)."""
    scripts = str(ROOT / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return cast("_Bootstrap", importlib.import_module("dev_bootstrap"))


class HomeAssistant:
    """One Home Assistant process in a temporary configuration folder."""

    def __init__(
        self, config_dir: Path, label: str, *, balupi_log_level: str = "warning"
    ) -> None:
        """Prepare a configuration on a free loopback port; nothing runs yet."""
        self.config_dir = config_dir
        self.label = label
        self.port = free_port(HOST)
        self.base = f"http://{HOST}:{self.port}"
        self.log = config_dir / "home-assistant.log"
        self.process: asyncio.subprocess.Process | None = None
        (config_dir / "configuration.yaml").write_text(
            CONFIGURATION.format(
                host=HOST, port=self.port, balupi_log_level=balupi_log_level
            )
        )

    @property
    def pid(self) -> int:
        """The process ID of Home Assistant."""
        if self.process is None:
            raise BenchError(f"{self.label}: Home Assistant is not running")
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process is not None and self.process.returncode is None

    def log_tail(self) -> str:
        """The end of Home Assistant's log (and console), for error messages."""
        text = ""
        for path in (self.log, self.config_dir / "console.log"):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")[-LOG_TAIL:]
        return text.strip() or "(no log)"

    async def start(self, console: IO[bytes]) -> None:
        """Start ``python -m homeassistant``; BaluPi is found through PYTHONPATH."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeassistant",
            "--config",
            str(self.config_dir),
            "--log-file",
            str(self.log),
            "--log-no-color",
            # Everything it needs is installed; never reach a package index.
            "--skip-pip",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=console,
            stderr=console,
            cwd=self.config_dir,
            env=python_env(),
        )

    async def stop(self) -> None:
        """Stop Home Assistant as a service manager would: SIGTERM, then SIGKILL."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def home_assistant(
    label: str, *, balupi_log_level: str = "warning"
) -> AsyncIterator[HomeAssistant]:
    """A running Home Assistant in a fresh temporary folder, stopped and removed after."""
    with (
        tempfile.TemporaryDirectory(prefix="balupi-bench-ha-") as folder,
        (Path(folder) / "console.log").open("wb") as console,
    ):
        hass = HomeAssistant(Path(folder), label, balupi_log_level=balupi_log_level)
        _bootstrap().prepare_onboarding(hass.config_dir)
        await hass.start(console)
        try:
            yield hass
        except BenchError as err:
            raise BenchError(f"{err}\n--- {label} log ---\n{hass.log_tail()}") from err
        finally:
            await hass.stop()


async def onboard(hass: HomeAssistant, session: aiohttp.ClientSession) -> str:
    """Wait for Home Assistant, create the owner; return an access token."""
    bootstrap = _bootstrap()
    try:
        await bootstrap.wait_for_home_assistant(session, hass.base, START_TIMEOUT)
        return await bootstrap.onboard(session, hass.base, USERNAME, PASSWORD)
    except (bootstrap.BootstrapError, aiohttp.ClientError) as err:
        raise BenchError(f"{hass.label}: onboarding failed: {err}") from err


async def add_balupi(
    hass: HomeAssistant, session: aiohttp.ClientSession, token: str, farm: Farm
) -> None:
    """Add BaluPi for the farm's NAS and plugs (the first plug powers the NAS).

    No Pi-hole and no inbox: their steps are left empty.
    """
    bootstrap = _bootstrap()
    settings = bootstrap.DevSettings(
        nas_url=farm.nas_url,
        nas_mac=NAS_MAC,
        pi_ip=HOST,
        secret=SECRET,
        plugs=farm.plug_hosts(),
        pihole_url="",
        pihole_password="",
        dns_hostname="",
        inbox=None,
    )
    try:
        done = await bootstrap.add_balupi(session, hass.base, token, settings)
    except (bootstrap.BootstrapError, aiohttp.ClientError) as err:
        raise BenchError(f"{hass.label}: adding BaluPi failed: {err}") from err
    progress(f"{hass.label}: BaluPi {done}")


class Api:
    """Home Assistant's REST API with an owner's access token."""

    def __init__(
        self, hass: HomeAssistant, session: aiohttp.ClientSession, token: str
    ) -> None:
        """Talk to ``hass`` through ``session`` as the owner of ``token``."""
        self.hass = hass
        self.session = session
        self.token = token
        self._headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> Any:
        """GET ``path`` (e.g. ``/api/states``); its JSON, or BenchError."""
        try:
            async with self.session.get(
                f"{self.hass.base}{path}", headers=self._headers
            ) as response:
                return await self._json(response, f"GET {path}")
        except aiohttp.ClientError as err:
            raise BenchError(f"{self.hass.label}: GET {path}: {err}") from err

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``path``; its JSON, or BenchError."""
        try:
            async with self.session.post(
                f"{self.hass.base}{path}", json=body, headers=self._headers
            ) as response:
                return await self._json(response, f"POST {path}")
        except aiohttp.ClientError as err:
            raise BenchError(f"{self.hass.label}: POST {path}: {err}") from err

    async def entry_id(self, domain: str) -> str:
        """The ID of the (only) config entry of ``domain``."""
        entries = await self.get("/api/config/config_entries/entry")
        for entry in entries:
            if entry["domain"] == domain:
                entry_id: str = entry["entry_id"]
                return entry_id
        raise BenchError(f"{self.hass.label}: no {domain} config entry")

    async def set_options(
        self, entry_id: str, options: dict[str, Any], *, nas_plug: str
    ) -> None:
        """Walk the entry's options flow with the full set of ``options``.

        ``nas_plug`` is the MAC of the plug that powers the NAS, in any notation;
        it is sent as the form's own choice for that plug.
        """
        flow_url = "/api/config/config_entries/options/flow"
        step = await self.post(flow_url, {"handler": entry_id})
        choices = _select_values(step, "nas_plug")
        wanted = _mac_digits(nas_plug)
        chosen = [value for value in choices if _mac_digits(value) == wanted]
        if not chosen:
            raise BenchError(f"no plug {nas_plug} among the choices {choices}")
        step = await self.post(
            f"{flow_url}/{step['flow_id']}", {**options, "nas_plug": chosen[0]}
        )
        if step.get("type") != "create_entry":
            raise BenchError(f"{self.hass.label}: options refused: {step}")

    async def press(self, entity_id: str) -> None:
        """Press a button entity, as the frontend does."""
        await self.post("/api/services/button/press", {"entity_id": entity_id})

    async def update_entity(self, entity_id: str) -> None:
        """Ask the entity's integration for a fresh value now."""
        await self.post(
            "/api/services/homeassistant/update_entity", {"entity_id": entity_id}
        )

    async def _json(self, response: aiohttp.ClientResponse, what: str) -> Any:
        if response.status >= 400:
            raise BenchError(
                f"{self.hass.label}: {what}: HTTP {response.status}: "
                f"{(await response.text())[:500]}"
            )
        return await response.json()


def _select_values(step: dict[str, Any], field: str) -> list[str]:
    """The values a select field of a flow form offers."""
    for item in step.get("data_schema", []):
        if item["name"] == field:
            return [option["value"] for option in item["selector"]["select"]["options"]]
    raise BenchError(f"no field {field!r} in the form {step}")


def _mac_digits(mac: str) -> str:
    return "".join(c for c in mac.lower() if c in "0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Seen:
    """An entity's state as the websocket reported it."""

    state: str
    changed_at: float
    """Home Assistant's ``last_changed``, as ``time.time()``."""
    received_at: float
    """When the benchmark received it, as ``time.time()``."""


class StateWatch:
    """Follows every state change of Home Assistant over its websocket API.

    Subscribed to ``state_changed`` events, so each change arrives with Home
    Assistant's own ``last_changed`` timestamp: the figures do not depend on how
    often anyone asks.
    """

    def __init__(self, api: Api) -> None:
        """Watch the instance that ``api`` talks to; nothing happens until opened."""
        self._api = api
        self._ids = itertools.count(1)
        self._states: dict[str, Seen] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[StateWatch]:
        """Connect, authenticate, subscribe and read the current states."""
        url = f"{self._api.hass.base.replace('http', 'ws', 1)}/api/websocket"
        try:
            ws = await self._api.session.ws_connect(url)
        except aiohttp.ClientError as err:
            raise BenchError(f"websocket {url}: {err}") from err
        async with ws:
            await self._authenticate(ws)
            subscribe = next(self._ids)
            await ws.send_json(
                {
                    "id": subscribe,
                    "type": "subscribe_events",
                    "event_type": "state_changed",
                }
            )
            get_states = next(self._ids)
            await ws.send_json({"id": get_states, "type": "get_states"})
            self._reader = asyncio.create_task(self._read(ws, get_states))
            try:
                yield self
            finally:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader

    def current(self, entity_id: str) -> Seen | None:
        """The latest known state of ``entity_id``."""
        return self._states.get(entity_id)

    async def wait_for(
        self, entity_id: str, state: str, *, after: float = 0.0, timeout: float
    ) -> Seen:
        """Wait until ``entity_id`` reads ``state``, changed to it at ``after`` or later."""
        deadline = time.monotonic() + timeout
        while True:
            if self._error is not None:
                raise BenchError(f"the websocket failed: {self._error}")
            seen = self._states.get(entity_id)
            if seen is not None and seen.state == state and seen.changed_at >= after:
                return seen
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                now = seen.state if seen is not None else "missing"
                raise BenchError(
                    f"{entity_id} did not read {state!r} within {timeout:g} s "
                    f"(it reads {now!r})"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def _authenticate(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            hello = await ws.receive_json(timeout=30)
            if hello.get("type") != "auth_required":
                raise BenchError(f"websocket: unexpected greeting {hello}")
            await ws.send_json({"type": "auth", "access_token": self._api.token})
            answer = await ws.receive_json(timeout=30)
        except (TypeError, ValueError, aiohttp.ClientError) as err:
            raise BenchError(f"websocket: no greeting or answer: {err}") from err
        if answer.get("type") != "auth_ok":
            raise BenchError(f"websocket: authentication failed: {answer}")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, get_states: int) -> None:
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                self._handle(message.json(), get_states)
        except (aiohttp.ClientError, ValueError) as err:
            self._error = err
        else:
            self._error = BenchError("the websocket closed")
        self._changed.set()

    def _handle(self, message: dict[str, Any], get_states: int) -> None:
        received = time.time()
        if message.get("type") == "event":
            new = message["event"]["data"]["new_state"]
            if new is not None:
                self._remember(new, received)
        elif message.get("id") == get_states and message.get("success"):
            for state in message["result"]:
                # A change that arrived before the list is newer than the list.
                if state["entity_id"] not in self._states:
                    self._remember(state, received)
        elif message.get("success") is False:
            self._error = BenchError(f"websocket: {message.get('error')}")
        self._changed.set()

    def _remember(self, state: dict[str, Any], received: float) -> None:
        changed = datetime.fromisoformat(state["last_changed"]).timestamp()
        self._states[state["entity_id"]] = Seen(state["state"], changed, received)
