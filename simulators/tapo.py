"""Loopback TP-Link Tapo P110/P115 smart plugs that unmodified python-kasa talks to.

Each plug is one aiohttp server speaking KLAP v2, the local protocol of current Tapo
plug firmware (python-kasa ``KlapTransportV2``), written from the wire description in
``shared/reference/library-apis.md`` §1.9:

* ``POST /app/handshake1``: body = 16 client seed bytes ``L``; reply = 16 device seed
  bytes ``R`` || ``SHA256(L || R || A)`` and the cookies ``TP_SESSIONID`` and
  ``TIMEOUT``, where ``A = SHA256(SHA1(username) || SHA1(password))`` is the hash of
  the TP-Link cloud account the plug is bound to. The plug never rejects anyone here:
  the client compares the hash with its own and raises ``AuthenticationError``.
* ``POST /app/handshake2``: body = ``SHA256(R || L || A)``; 200 or 403.
* ``POST /app/request?seq=N``: body = ``SHA256(sig || seq || ct) || ct``, ``ct`` =
  AES-128-CBC (IV = ``iv || seq``, PKCS7) over SMART JSON; the reply is framed and
  encrypted the same way with the same ``seq``. An unknown or expired session gets
  HTTP 403, which python-kasa retries after a fresh handshake.

Inside is the SMART JSON API (``get_device_info``, ``get_energy_usage``,
``multipleRequest``...), answering every method python-kasa 0.10 to 0.12 sends to a
P110/P115 with the components announced in ``component_nego``.

A plug can play the first P110 firmware (``energy_monitoring=1``: energy monitoring
component version 1, as on P110 1.0.x from 2021): ``get_energy_usage`` then carries the
plug's history arrays, and ``get_current_power``, ``get_emeter_data`` and
``get_emeter_vgain_igain`` are unknown methods, so no voltage or current is ever
reported (python-kasa's fixture ``P110(EU)_1.0_1.0.7``). Real 1.0.x firmware also speaks
the older AES transport; the simulator speaks KLAP v2 whatever it plays.

A plug can also move to another address (:meth:`move_to`, DHCP gave it a new one) and
answer python-kasa's UDP discovery probe on port 20002, and it can be
switched between the behaviours a real plug shows: online, port closed (refused),
silent (a plug that dropped off Wi-Fi: nothing comes back), slow, with its sessions
expired, or bound to another account. It can also answer like no plug should
(``hostile``, see ``simulators.hostile``): the HTTP kinds on every reply, handshakes
included; the body kinds inside the encryption of the SMART replies, as only a device
that knows the account could send them (``HUGE_NUMBER`` also in the ``TIMEOUT``
cookie of the handshake).

Run plugs alone with ``python -m simulators.tapo --plug "NAS plug,P110,45"``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
from collections import Counter
from collections.abc import Callable
import contextlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import hashlib
import hmac
import json
import logging
import secrets
import struct
import sys
import time
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .hostile import DIGITS, Hostile, hostile_body, hostile_http
from .server import LoopbackHttpServer

_LOGGER = logging.getLogger(__name__)

DISCOVERY_PORT = 20002
"""UDP port python-kasa probes for SMART (Tapo) devices; fixed in python-kasa."""

SESSION_COOKIE = "TP_SESSIONID"
TIMEOUT_COOKIE = "TIMEOUT"
DEFAULT_SESSION_TIMEOUT = 86400
"""Seconds a KLAP session lives; real plugs send 86400 in the TIMEOUT cookie."""

MAX_SESSIONS = 64
"""Sessions kept per plug; every reconnect makes one, so old ones are dropped."""

SPLIT_PAUSE = 0.01
"""Seconds between the two parts of a split handshake reply (``split_replies``)."""

# SMART error codes (python-kasa SmartErrorCode).
SUCCESS = 0
UNKNOWN_METHOD_ERROR = -1002
PARAMS_ERROR = -1008

# Firmware each model reports unless told otherwise (versions of real KLAP firmware).
DEFAULT_FIRMWARE = {
    "P110": "1.3.0 Build 230905 Rel.152200",
    "P115": "1.1.3 Build 240523 Rel.175054",
}

# Components announced in component_nego: only those whose queries this simulator
# answers. python-kasa builds one module per known component and queries it on every
# update, so announcing more would make modules error out.
COMPONENTS: tuple[tuple[str, int], ...] = (
    ("device", 2),  # get_device_info; version 2 adds get_device_usage
    ("firmware", 2),  # version 2: get_auto_update_info
    ("time", 1),  # get_device_time
    ("led", 1),  # get_led_info
    ("cloud_connect", 1),  # get_connect_cloud_state
    ("auto_off", 2),  # get_auto_off_config
    ("energy_monitoring", 2),  # version 2: also get_emeter_data, voltage and current
    ("power_protection", 1),  # get_protection_power, get_max_power
)

ENERGY_V2_METHODS = frozenset(
    {"get_current_power", "get_emeter_data", "get_emeter_vgain_igain"}
)
"""What energy monitoring version 1 firmware does not know (python-kasa asks them
only from version 2 on)."""

FIRST_FIRMWARE = "1.0.7 Build 210629 Rel.174901"
"""P110 firmware of 2021, energy monitoring version 1 (python-kasa's fixture)."""

TIME_REGION = "Europe/Berlin"
TIME_DIFF_MINUTES = 60


class PlugMode(StrEnum):
    """How the simulated plug treats new requests."""

    ONLINE = "online"
    REFUSED = "refused"
    """The port is closed: connections are refused, open ones are reset."""
    SILENT = "silent"
    """Connections are accepted and nothing ever comes back (plug off the Wi-Fi)."""


def klap_v2_auth_hash(username: str, password: str) -> bytes:
    """Return the KLAP v2 account hash ``SHA256(SHA1(username) || SHA1(password))``."""
    return _sha256(_sha1(username.encode()), _sha1(password.encode()))


def _sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _sha1(data: bytes) -> bytes:
    # SHA1 is what the KLAP v2 protocol prescribes, not our choice.
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _seq_bytes(seq: int) -> bytes:
    # The client sends seq as a signed 32-bit number; masking gives its two's
    # complement bytes, identical to struct ">l" for every value in range.
    return (seq & 0xFFFFFFFF).to_bytes(4, "big")


class _KlapSession:
    """One handshake's key material, as the plug keeps it."""

    def __init__(
        self, local_seed: bytes, remote_seed: bytes, auth_hash: bytes, expires_at: float
    ) -> None:
        self.local_seed = local_seed
        self.remote_seed = remote_seed
        self.auth_hash = auth_hash
        self.expires_at = expires_at
        self.established = False
        """True once handshake2 proved the client knows the account hash."""
        material = local_seed + remote_seed + auth_hash
        self._key = _sha256(b"lsk", material)[:16]
        self._sig = _sha256(b"ldk", material)[:28]
        self._iv = _sha256(b"iv", material)[:12]

    def handshake2_hash(self) -> bytes:
        """The hash a client that knows this plug's account sends in handshake2."""
        return _sha256(self.remote_seed, self.local_seed, self.auth_hash)

    def _cipher(self, seq: int) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv + _seq_bytes(seq)))

    def decrypt(self, seq: int, body: bytes) -> bytes:
        """Check the signature and decrypt a request body; ValueError if bad."""
        signature, ciphertext = body[:32], body[32:]
        if not ciphertext or len(ciphertext) % 16:
            raise ValueError("ciphertext is not whole AES blocks")
        expected = _sha256(self._sig, _seq_bytes(seq), ciphertext)
        if not hmac.compare_digest(signature, expected):
            raise ValueError("bad request signature")
        decryptor = self._cipher(seq).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()

    def encrypt(self, seq: int, plaintext: bytes) -> bytes:
        """Encrypt and sign a reply body with the request's sequence number."""
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = self._cipher(seq).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return _sha256(self._sig, _seq_bytes(seq), ciphertext) + ciphertext


class _SmartError(Exception):
    """A SMART method failed with a device error code."""

    def __init__(self, error_code: int) -> None:
        super().__init__(error_code)
        self.error_code = error_code


SmartMethod = Callable[[dict[str, Any]], dict[str, Any] | None]


class TapoPlugSimulator(LoopbackHttpServer):
    """One simulated Tapo plug on ``(host, port)``; the port survives going offline.

    The readings (``power_w``, ``voltage_v``, ``current_a``, ``energy_today_wh``,
    ``energy_month_wh``), ``is_on``, ``rssi``, ``alias`` and ``latency`` are plain
    attributes: change them at any time and the next request sees the new values.
    The plug reports at its own resolution (mW, mV, mA, whole Wh), so values are
    rounded to that on the wire.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "P110",
        alias: str = "Tapo Plug",
        mac: str = "48:22:54:00:00:01",
        username: str = "user@example.com",
        password: str = "tapo-secret",  # noqa: S107 -- a made-up test account
        firmware: str | None = None,
        hardware: str = "1.0",
        region: str = "EU",
        power_w: float = 35.0,
        voltage_v: float = 230.0,
        current_a: float | None = None,
        energy_today_wh: float = 0.0,
        energy_month_wh: float = 0.0,
        is_on: bool = True,
        rssi: int = -50,
        energy_monitoring: int = 2,
    ) -> None:
        """Prepare a plug; nothing listens until :meth:`start`.

        Args:
            host: Address to listen on (and to report as the plug's IP).
            port: HTTP port; 0 picks a free one at start and keeps it.
            model: "P110" or "P115".
            alias: The name the user gave the plug in the Tapo app.
            mac: MAC address, with colons or dashes.
            username: TP-Link cloud account e-mail the plug is bound to.
            password: TP-Link cloud account password.
            firmware: Firmware version string; a real one for the model by default.
            hardware: Hardware version.
            region: Model region, as in discovery's "P110(EU)".
            power_w: Power drawn while on, in W.
            voltage_v: Mains voltage, in V.
            current_a: Current while on, in A; None derives it from power and voltage.
            energy_today_wh: Energy used today, in Wh.
            energy_month_wh: Energy used this month, in Wh.
            is_on: Whether the relay is closed.
            rssi: Wi-Fi signal strength, in dBm.
            energy_monitoring: Version of the energy monitoring component: 2 as on
                current firmware, 1 as on the first (no voltage, no current; the
                firmware then defaults to ``FIRST_FIRMWARE``).
        """
        if model not in DEFAULT_FIRMWARE:
            raise ValueError(f"unsupported model {model!r}, use P110 or P115")
        if energy_monitoring not in (1, 2):
            raise ValueError("energy_monitoring is 1 or 2")
        super().__init__(host, port)
        self.model = model
        self.alias = alias
        self.mac = mac.replace("-", ":").upper()
        self.energy_monitoring = energy_monitoring
        """Version of the energy monitoring component (1: no voltage or current)."""
        self.firmware = firmware or (
            FIRST_FIRMWARE if energy_monitoring == 1 else DEFAULT_FIRMWARE[model]
        )
        self.hardware = hardware
        self.region = region
        self.power_w = power_w
        self.voltage_v = voltage_v
        self.current_a = current_a
        """Current while on, in A; None derives it from power_w / voltage_v."""
        self.energy_today_wh = energy_today_wh
        self.energy_month_wh = energy_month_wh
        self.energy_total_wh = energy_month_wh
        """Running energy counter (get_emeter_data energy_wh); never reset."""
        self.rssi = rssi
        self.failing_methods: set[str] = set()
        """SMART methods that answer with an error (a plug whose firmware misbehaves)."""
        self.wall_clock: Callable[[], float] = time.time
        """The plug's own clock (Unix seconds): its counters reset at its midnight."""
        self.components: list[tuple[str, int]] = list(COMPONENTS)
        """What component_nego announces; drop energy_monitoring for a P100."""
        self.session_timeout = DEFAULT_SESSION_TIMEOUT
        """Seconds a new session lives; sent as the TIMEOUT cookie and enforced."""
        self.clock: Callable[[], float] = time.monotonic
        """Monotonic clock for session ages; tests may replace it to age sessions."""
        self.handshakes = 0
        """Completed handshake1 calls."""
        self.requests = 0
        """Decrypted SMART requests (a multipleRequest batch counts once)."""
        self.rejected_requests = 0
        """Requests answered with 403 because their session was unknown or expired."""
        self.method_calls: Counter[str] = Counter()
        """SMART methods called, batches unpacked, by name."""
        self.settings: dict[str, dict[str, Any]] = _default_settings()
        """Settings the plug keeps, by getter: ``get_X`` answers them, ``set_X``
        merges its params into them."""
        self._username = username
        self._auth_hash = klap_v2_auth_hash(username, password)
        self._is_on = is_on
        self._on_since = time.monotonic()
        self._runtime_today_min = 0.0
        self._runtime_month_min = 0.0
        self._sessions: dict[str, _KlapSession] = {}
        self.hostile: Hostile | None = None
        """Answer like no plug should (in every mode but refused and silent)."""
        self.on_switch: Callable[[bool], None] | None = None
        """Called with the relay's new state whenever it changes (a NAS hanging on
        the plug loses its power when it opens)."""
        self.split_replies = False
        """Send the handshake reply in two parts, the body after the cookies, as a
        plug's TCP stack may deliver it (``SPLIT_PAUSE`` apart)."""
        self._mode = PlugMode.ONLINE
        self._discovery: asyncio.DatagramTransport | None = None
        self._methods = self._method_table()

    def _method_table(self) -> dict[str, SmartMethod]:
        """The SMART methods the plug answers, by name."""
        table: dict[str, SmartMethod] = {
            "component_nego": self._component_nego,
            "get_device_info": self._get_device_info,
            "get_device_usage": self._get_device_usage,
            "get_device_time": self._get_device_time,
            "get_energy_usage": self._get_energy_usage,
            "get_current_power": self._get_current_power,
            "get_emeter_data": self._get_emeter_data,
            "get_emeter_vgain_igain": self._get_emeter_vgain_igain,
            "get_connect_cloud_state": self._get_connect_cloud_state,
            "get_latest_fw": self._get_latest_fw,
            "get_fw_download_state": self._get_fw_download_state,
            "set_device_info": self._set_device_info,
        }
        for getter in self.settings:
            table[getter] = self._getter(getter)
            if getter != "get_max_power":  # a hardware limit, not a setting
                table["set_" + getter.removeprefix("get_")] = self._setter(getter)
        return table

    # -- public API ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the plug's HTTP server."""
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> PlugMode:
        """The current behaviour."""
        return self._mode

    @property
    def is_on(self) -> bool:
        """Whether the relay is closed; power and current read 0 while off."""
        return self._is_on

    @is_on.setter
    def is_on(self, value: bool) -> None:
        changed = value != self._is_on
        if value and not self._is_on:
            self._on_since = time.monotonic()
        self._is_on = value
        if changed and self.on_switch is not None:
            self.on_switch(value)

    @property
    def username(self) -> str:
        """The TP-Link account e-mail the plug is bound to (see :meth:`set_account`)."""
        return self._username

    @property
    def device_id(self) -> str:
        """The 40-hex-digit device id the plug reports (derived from its MAC)."""
        return (
            hashlib.sha1(self.mac.encode(), usedforsecurity=False).hexdigest().upper()
        )

    @property
    def mac_dashed(self) -> str:
        """The MAC in the dash form the plug sends, e.g. ``48-22-54-00-00-01``."""
        return self.mac.replace(":", "-")

    @property
    def device_model(self) -> str:
        """Model with region, as discovery reports it, e.g. ``P110(EU)``."""
        return f"{self.model}({self.region})"

    @property
    def reported_power_w(self) -> float:
        """Power the plug reports now: ``power_w`` while on, else 0."""
        return self.power_w if self._is_on else 0.0

    @property
    def reported_current_a(self) -> float:
        """Current the plug reports now, in A (0 while off)."""
        if not self._is_on:
            return 0.0
        if self.current_a is not None:
            return self.current_a
        return self.power_w / self.voltage_v if self.voltage_v else 0.0

    async def start(self) -> None:
        """Start serving HTTP; with port 0 a free port is chosen and kept."""
        app = web.Application()
        app.router.add_post("/app/handshake1", self._handshake1)
        app.router.add_post("/app/handshake2", self._handshake2)
        app.router.add_post("/app/request", self._request)
        await self._start_app(app)

    async def stop(self) -> None:
        """Stop serving HTTP and discovery and release the ports."""
        if self._discovery is not None:
            self._discovery.close()
            self._discovery = None
        await self._stop_app()

    async def move_to(self, host: str, port: int | None = None) -> None:
        """Move to another address, as a plug DHCP gives a new one.

        Nothing answers at the old address afterwards (connections are refused);
        discovery, if it was answered, is answered from the new address.
        """
        discovery = self._discovery is not None
        await self.stop()
        self.host = host
        if port is not None:
            self.port = port
        self._sessions.clear()
        await self.start()
        if self._mode is not PlugMode.ONLINE:
            await self.set_offline(self._mode)
        if discovery:
            await self.start_discovery()

    async def set_offline(self, mode: PlugMode) -> None:
        """Change behaviour: ``REFUSED`` closes the port, ``ONLINE`` reopens it.

        Requests a silent plug was holding are released on every change and then
        see the new mode.
        """
        self._mode = mode
        await self._set_reachability(
            refused=mode is PlugMode.REFUSED, silent=mode is PlugMode.SILENT
        )

    def expire_sessions(self) -> None:
        """Invalidate every KLAP session: the next request with one gets HTTP 403."""
        self._sessions.clear()

    def set_account(self, username: str, password: str) -> None:
        """Bind the plug to another TP-Link account (the user changed the password).

        New handshakes use the new account, so a client with the old credentials
        gets ``AuthenticationError``. Sessions already open stay valid until they
        expire or :meth:`expire_sessions` is called, as nothing ends them on a
        real plug either.
        """
        self._username = username
        self._auth_hash = klap_v2_auth_hash(username, password)

    def reset_day(self) -> None:
        """Midnight: today's energy starts again at 0."""
        self.energy_today_wh = 0.0
        self._runtime_today_min = 0.0

    def reset_month(self) -> None:
        """First of the month: this month's (and today's) energy start again at 0."""
        self.reset_day()
        self.energy_month_wh = 0.0
        self._runtime_month_min = 0.0

    def run_for(self, seconds: float) -> None:
        """Let time pass for the energy counters: add what the plug used meanwhile."""
        if not self._is_on:
            return
        used_wh = self.power_w * seconds / 3600
        self.energy_today_wh += used_wh
        self.energy_month_wh += used_wh
        self.energy_total_wh += used_wh
        self._runtime_today_min += seconds / 60
        self._runtime_month_min += seconds / 60

    async def start_discovery(self) -> None:
        """Answer python-kasa's UDP discovery probe on ``(host, 20002)``.

        Only one plug per address can do this, as the port is fixed. The legacy
        port 9999 probe (older Kasa devices) is not answered: no listener there.
        """
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DiscoveryResponder(self), local_addr=(self.host, DISCOVERY_PORT)
        )
        self._discovery = transport

    def discovery_result(self) -> dict[str, Any]:
        """The JSON a plug sends back to a discovery probe."""
        return {
            "error_code": SUCCESS,
            "result": {
                "device_id": self.device_id,
                "device_model": self.device_model,
                "device_type": "SMART.TAPOPLUG",
                "factory_default": False,
                "ip": self.host,
                "is_support_iot_cloud": True,
                "mac": self.mac_dashed,
                "mgt_encrypt_schm": {
                    "encrypt_type": "KLAP",
                    "http_port": self.port,
                    "is_support_https": False,
                    "lv": 2,
                },
                "obd_src": "tplink",
            },
        }

    # -- HTTP ---------------------------------------------------------------------

    async def _handshake1(self, request: web.Request) -> web.StreamResponse:
        await self._gate()
        local_seed = await request.read()
        if len(local_seed) != 16:
            return web.Response(status=400)
        remote_seed = secrets.token_bytes(16)
        now = self.clock()
        session = _KlapSession(
            local_seed, remote_seed, self._auth_hash, now + self.session_timeout
        )
        self._prune_sessions(now)
        session_id = secrets.token_hex(16).upper()
        self._sessions[session_id] = session
        self.handshakes += 1
        body = remote_seed + _sha256(local_seed, remote_seed, self._auth_hash)
        timeout = "9" * DIGITS if self.hostile is Hostile.HUGE_NUMBER else None
        cookies = {
            SESSION_COOKIE: session_id,
            TIMEOUT_COOKIE: timeout or str(self.session_timeout),
        }
        if self.split_replies and self.hostile is None:
            return await self._split_reply(request, body, cookies)
        response = web.Response(body=body, content_type="application/octet-stream")
        for name, value in cookies.items():
            response.set_cookie(name, value)
        return await self._hostile_http(request, response)

    async def _split_reply(
        self, request: web.Request, body: bytes, cookies: dict[str, str]
    ) -> web.StreamResponse:
        """Send the headers (and cookies) with one byte, the rest a moment later."""
        response = web.StreamResponse(
            headers={"Content-Type": "application/octet-stream"}
        )
        for name, value in cookies.items():
            response.set_cookie(name, value)
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:1])
        await asyncio.sleep(SPLIT_PAUSE)
        await response.write(body[1:])
        await response.write_eof()
        return response

    async def _handshake2(self, request: web.Request) -> web.StreamResponse:
        await self._gate()
        body = await request.read()
        session = self._session(request)
        if session is None or not hmac.compare_digest(body, session.handshake2_hash()):
            # A client that accepted handshake1 with other credentials than this
            # plug's account (e.g. a default or blank account) ends here.
            return web.Response(status=403)
        session.established = True
        return await self._hostile_http(
            request, web.Response(content_type="application/octet-stream")
        )

    async def _request(self, request: web.Request) -> web.StreamResponse:
        await self._gate()
        body = await request.read()
        try:
            seq = int(request.query["seq"])
        except (KeyError, ValueError):
            return web.Response(status=400)
        session = self._session(request)
        if session is None or not session.established:
            self.rejected_requests += 1
            return web.Response(status=403)
        try:
            smart_request = json.loads(session.decrypt(seq, body))
        except ValueError:
            return web.Response(status=400)
        self.requests += 1
        reply = self._dispatch(smart_request)
        payload = json.dumps(reply, separators=(",", ":")).encode()
        hostile = self.hostile
        if (
            hostile is not None
            and hostile.in_body
            and hostile is not Hostile.WRONG_TYPES
        ):
            # WRONG_TYPES is in get_device_info (above): the rest of the reply is real.
            payload = hostile_body(hostile, wrong_types=b"")
        return await self._hostile_http(
            request,
            web.Response(
                body=session.encrypt(seq, payload),
                content_type="application/octet-stream",
            ),
        )

    async def _hostile_http(
        self, request: web.Request, real: web.Response
    ) -> web.StreamResponse:
        """``real``, or the HTTP-level hostile reply around its body."""
        if self.hostile is None or self.hostile.in_body:
            return real
        body = real.body if isinstance(real.body, bytes) else b""
        return await hostile_http(
            request, self.hostile, body, content_type="application/octet-stream"
        )

    def _session(self, request: web.Request) -> _KlapSession | None:
        """The request's live session, or None if unknown or older than its TIMEOUT."""
        session_id = request.cookies.get(SESSION_COOKIE, "")
        session = self._sessions.get(session_id)
        if session is not None and self.clock() >= session.expires_at:
            del self._sessions[session_id]
            return None
        return session

    def _prune_sessions(self, now: float) -> None:
        for session_id, session in list(self._sessions.items()):
            if now >= session.expires_at:
                del self._sessions[session_id]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]

    # -- SMART JSON ---------------------------------------------------------------

    def _dispatch(self, smart_request: Any) -> dict[str, Any]:
        if not isinstance(smart_request, dict):
            return {"error_code": PARAMS_ERROR}
        method = smart_request.get("method")
        params = smart_request.get("params") or {}
        if method == "multipleRequest":
            return self._multiple_request(params)
        return self._call(method, params)

    def _multiple_request(self, params: Any) -> dict[str, Any]:
        requests = params.get("requests") if isinstance(params, dict) else None
        if not isinstance(requests, list):
            return {"error_code": PARAMS_ERROR}
        responses: list[dict[str, Any]] = []
        for item in requests:
            entry: dict[str, Any] = item if isinstance(item, dict) else {}
            method = entry.get("method")
            reply = self._call(method, entry.get("params") or {})
            responses.append({"method": method, **reply})
            if reply["error_code"] != SUCCESS:
                # Real plugs stop a batch at the first error; python-kasa then asks
                # for the missing methods one at a time.
                break
        return {"error_code": SUCCESS, "result": {"responses": responses}}

    def _call(self, method: Any, params: Any) -> dict[str, Any]:
        handler = self._methods.get(method) if isinstance(method, str) else None
        if handler is None:
            _LOGGER.debug("Tapo simulator %s: unknown method %r", self.url, method)
            return {"error_code": UNKNOWN_METHOD_ERROR}
        self.method_calls[method] += 1
        if self.energy_monitoring < 2 and method in ENERGY_V2_METHODS:
            # Known to current firmware only (method_calls shows it was asked).
            return {"error_code": UNKNOWN_METHOD_ERROR}
        if method in self.failing_methods or not isinstance(params, dict):
            return {"error_code": PARAMS_ERROR}
        try:
            result = handler(params)
        except _SmartError as err:
            return {"error_code": err.error_code}
        if result is None:
            return {"error_code": SUCCESS}
        return {"error_code": SUCCESS, "result": result}

    def _component_nego(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "component_list": [
                {
                    "id": component,
                    "ver_code": (
                        self.energy_monitoring
                        if component == "energy_monitoring"
                        else version
                    ),
                }
                for component, version in self.components
            ]
        }

    def _get_device_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "auto_off_remain_time": 0,
            "auto_off_status": "off",
            "avatar": "plug",
            "default_states": {"state": {}, "type": "last_states"},
            "device_id": self.device_id,
            "device_on": self._is_on,
            "fw_id": _hex_id("fw", self.model, self.firmware),
            "fw_ver": self.firmware,
            "has_set_location_info": True,
            "hw_id": _hex_id("hw", self.model, self.hardware),
            "hw_ver": self.hardware,
            "ip": self.host,
            "lang": "de_DE",
            "latitude": 0,
            "longitude": 0,
            "mac": self.mac_dashed,
            "model": self.model,
            "nickname": _b64(self.alias),
            "oem_id": _hex_id("oem", self.model),
            "on_time": int(time.monotonic() - self._on_since) if self._is_on else 0,
            "overcurrent_status": "normal",
            "power_protection_status": "normal",
            "region": TIME_REGION,
            "rssi": self.rssi,
            "signal_level": _signal_level(self.rssi),
            "specs": self.region,
            "ssid": _b64("BaluNet"),
            "time_diff": TIME_DIFF_MINUTES,
            "type": "SMART.TAPOPLUG",
        }
        # The P110 firmware says "overheated", the P115 firmware "overheat_status";
        # python-kasa's overheat module reads either.
        if self.model == "P115":
            info["overheat_status"] = "normal"
        else:
            info["overheated"] = False
        if self.hostile is Hostile.WRONG_TYPES:
            info.update(WRONG_TYPES)
        return info

    def _get_device_usage(self, _params: dict[str, Any]) -> dict[str, Any]:
        today = round(self._runtime_today_min)
        month = round(self._runtime_month_min)
        return {
            "power_usage": {
                "past30": round(self.energy_month_wh),
                "past7": round(self.energy_month_wh),
                "today": round(self.energy_today_wh),
            },
            "saved_power": {"past30": 0, "past7": 0, "today": 0},
            "time_usage": {"past30": month, "past7": month, "today": today},
        }

    def _get_device_time(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "region": TIME_REGION,
            "time_diff": TIME_DIFF_MINUTES,
            "timestamp": int(self.wall_clock()),
        }

    def _get_energy_usage(self, _params: dict[str, Any]) -> dict[str, Any]:
        local = datetime.now(UTC) + timedelta(minutes=TIME_DIFF_MINUTES)
        usage: dict[str, Any] = {
            "current_power": round(self.reported_power_w * 1000),  # mW
            "local_time": local.strftime("%Y-%m-%d %H:%M:%S"),
            "month_energy": round(self.energy_month_wh),  # Wh
            "month_runtime": round(self._runtime_month_min),  # minutes
            "today_energy": round(self.energy_today_wh),  # Wh
            "today_runtime": round(self._runtime_today_min),
        }
        if self.energy_monitoring < 2:
            # The first firmware sends its history along, and no charges. Which end of
            # each array is the newest is not documented; BaluPi does not read them,
            # so they are zeros here (as in python-kasa's fixture of an idle plug).
            return usage | {
                "past1y": [0] * 12,
                "past24h": [0] * 24,
                "past30d": [0] * 30,
                "past7d": [[0] * 24 for _ in range(7)],
            }
        return usage | {"electricity_charge": [0, 0, 0]}

    def _get_current_power(self, _params: dict[str, Any]) -> dict[str, Any]:
        # Whole watts: the low-resolution reading python-kasa uses only as a fallback.
        return {"current_power": round(self.reported_power_w)}

    def _get_emeter_data(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "current_ma": round(self.reported_current_a * 1000),
            "energy_wh": round(self.energy_total_wh),
            "power_mw": round(self.reported_power_w * 1000),
            "voltage_mv": round(self.voltage_v * 1000),
        }

    def _get_emeter_vgain_igain(self, _params: dict[str, Any]) -> dict[str, Any]:
        # Calibration constants; python-kasa queries but does not use them.
        return {"igain": 11623, "vgain": 118272}

    def _get_connect_cloud_state(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"status": 0}

    def _get_latest_fw(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "fw_size": 0,
            "fw_ver": self.firmware,
            "hw_id": "",
            "need_to_upgrade": False,
            "oem_id": "",
            "release_date": "",
            "release_note": "",
            "type": 0,
        }

    def _get_fw_download_state(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "auto_upgrade": False,
            "download_progress": 0,
            "reboot_time": 5,
            "status": 0,
            "upgrade_time": 5,
        }

    def _set_device_info(self, params: dict[str, Any]) -> None:
        if "device_on" in params:
            if not isinstance(params["device_on"], bool):
                raise _SmartError(PARAMS_ERROR)
            self.is_on = params["device_on"]
        if "nickname" in params:
            try:
                self.alias = base64.b64decode(params["nickname"]).decode()
            except (TypeError, ValueError) as err:
                raise _SmartError(PARAMS_ERROR) from err

    def _getter(self, getter: str) -> SmartMethod:
        """A ``get_X`` method that answers a copy of the stored settings."""

        def get_values(_params: dict[str, Any]) -> dict[str, Any]:
            return dict(self.settings[getter])

        return get_values

    def _setter(self, getter: str) -> SmartMethod:
        """A ``set_X`` method that merges its params into what ``get_X`` returns."""

        def set_values(params: dict[str, Any]) -> None:
            self.settings[getter].update(params)

        return set_values

    # -- UDP discovery ------------------------------------------------------------

    def _discovery_reply(self, probe: bytes) -> bytes | None:
        """The TDP-framed reply to a 20002 probe, or None to stay quiet."""
        # A TDP probe has a 16-byte header starting with version 2; anything else
        # (e.g. a stray legacy XOR query) is not for us.
        if self._mode is not PlugMode.ONLINE or len(probe) < 16 or probe[0] != 2:
            return None
        _version, msg_type, op_code, _size, flags, _pad, serial, _crc = (
            _TDP_HEADER.unpack_from(probe)
        )
        payload = json.dumps(self.discovery_result(), separators=(",", ":")).encode()
        header = _TDP_HEADER.pack(
            2, msg_type, op_code, len(payload), flags, 0, serial, _TDP_CRC_SEED
        )
        # Same framing as the probe: the CRC32 of the whole datagram, computed with
        # the seed in the CRC field, replaces the seed. python-kasa skips the header
        # and reads the JSON from byte 16.
        reply = bytearray(header + payload)
        reply[12:16] = binascii.crc32(reply).to_bytes(4, "big")
        return bytes(reply)


WRONG_TYPES: dict[str, Any] = {"fw_ver": {"major": 1}, "rssi": "strong"}
"""Device info values of types no plug sends (inside the encryption)."""

_TDP_HEADER = struct.Struct(">BBHHBBII")
_TDP_CRC_SEED = 0x5A6B7C8D


class _DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers discovery probes for one plug."""

    def __init__(self, plug: TapoPlugSimulator) -> None:
        self._plug = plug
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket to answer from; replies must come from port 20002."""
        if isinstance(transport, asyncio.DatagramTransport):
            self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """Answer a probe to the address it came from."""
        reply = self._plug._discovery_reply(data)  # noqa: SLF001
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)


def _default_settings() -> dict[str, dict[str, Any]]:
    """Settings of a plug fresh from the Tapo app, by the method that reads them."""
    return {
        "get_auto_off_config": {"delay_min": 120, "enable": False},
        "get_auto_update_info": {"enable": True, "random_range": 120, "time": 180},
        "get_led_info": {
            "led_rule": "always",
            "led_status": True,
            "night_mode": {
                "end_time": 420,
                "night_mode_type": "sunrise_sunset",
                "start_time": 1140,
                "sunrise_offset": 0,
                "sunset_offset": 0,
            },
        },
        # python-kasa's power protection range tops out at max_power (W).
        "get_max_power": {"max_power": 3680},
        "get_protection_power": {"enabled": False, "protection_power": 0},
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _hex_id(*parts: str) -> str:
    """A stable 32-hex-digit id, the shape of the plug's hw_id, fw_id and oem_id."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32].upper()


def _signal_level(rssi: int) -> int:
    """Tapo's 0-3 signal bars for an RSSI in dBm."""
    if rssi >= -55:
        return 3
    if rssi >= -70:
        return 2
    if rssi >= -85:
        return 1
    return 0


# -- command line ---------------------------------------------------------------------


def _parse_plug(spec: str) -> tuple[str, str, float, int]:
    """Parse ``"NAME,MODEL,WATTS,v1"`` (all but the name optional; v1: first firmware)."""
    name, model, watts, version = ([*spec.split(","), "", "", ""])[:4]
    try:
        power = float(watts) if watts.strip() else 35.0
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"bad watts in {spec!r}") from err
    model = model.strip().upper() or "P110"
    if model not in DEFAULT_FIRMWARE:
        raise argparse.ArgumentTypeError(f"unsupported model in {spec!r}")
    if version.strip().lower() not in ("", "v1", "v2"):
        raise argparse.ArgumentTypeError(f"energy monitoring v1 or v2 in {spec!r}")
    energy_monitoring = 1 if version.strip().lower() == "v1" else 2
    return name.strip() or "Tapo Plug", model, power, energy_monitoring


def plug_mac(number: int) -> str:
    """The MAC of the command line's plug ``number`` (from 1)."""
    return f"48:22:54:00:{number >> 8:02X}:{number & 0xFF:02X}"


async def _serve(args: argparse.Namespace) -> None:
    specs: list[tuple[str, str, float, int]] = args.plug or [
        (f"Tapo Plug {index + 1}", "P110", 35.0, 2) for index in range(args.count)
    ]
    plugs = [
        TapoPlugSimulator(
            host=args.host,
            port=args.port + index,
            model=model,
            alias=name,
            mac=plug_mac(args.first_number + index),
            username=args.username,
            password=args.password,
            power_w=power,
            energy_monitoring=energy_monitoring,
        )
        for index, (name, model, power, energy_monitoring) in enumerate(specs)
    ]
    try:
        for plug in plugs:
            await plug.start()
            sys.stdout.write(f"{plug.url}  {plug.model}  {plug.mac}  {plug.alias}\n")
        if args.discovery and plugs:
            await plugs[0].start_discovery()
            sys.stdout.write(f"discovery on udp {args.host}:{DISCOVERY_PORT}\n")
        sys.stdout.flush()
        # The energy counters grow in real time, as a plug's do.
        while True:
            await asyncio.sleep(ENERGY_TICK)
            for plug in plugs:
                plug.run_for(ENERGY_TICK)
    finally:
        for plug in plugs:
            await plug.stop()


ENERGY_TICK = 5.0
"""Seconds between the command line plugs' energy counter updates."""


def main() -> None:
    """Run simulated plugs on consecutive ports until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=19000, help="port of the first plug"
    )
    parser.add_argument(
        "--plug",
        action="append",
        type=_parse_plug,
        metavar="NAME,MODEL,WATTS[,v1]",
        help='a plug, e.g. "NAS plug,P110,45"; ",v1" plays the first firmware '
        "(no voltage or current); repeat for more",
    )
    parser.add_argument("--count", type=int, default=1, help="plugs without --plug")
    parser.add_argument(
        "--first-number",
        type=int,
        default=1,
        help="number of the first plug in its MAC 48:22:54:00:00:NN (default 1)",
    )
    parser.add_argument("--username", default="user@example.com")
    parser.add_argument("--password", default="tapo-secret")
    parser.add_argument(
        "--discovery",
        action="store_true",
        help=f"answer discovery on udp {DISCOVERY_PORT} for the first plug",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
