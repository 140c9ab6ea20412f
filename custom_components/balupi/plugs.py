"""Access to TP-Link Tapo P110/P115 plugs through python-kasa.

Plain Python, no Home Assistant. One ``PlugClient`` holds the authenticated python-kasa
devices of one Tapo account, cached by host: a plug is connected once and then only
updated; after any error its connection is dropped and the next read connects afresh.
Errors come out as ``PlugAuthError`` (the account was rejected) or
``PlugUnreachableError`` (anything else on the way to the plug, a garbled reply too:
python-kasa lets the parse errors of odd replies out as they are; and another device
answering at the plug's address, ``PlugMismatchError``).

A plug is known by its MAC; its address is only where it was last seen. DHCP may give
it another one, and another plug the old one. ``find_addresses`` asks the network
(python-kasa's UDP discovery, no account needed) where each MAC answers now, and
``PlugClient.read`` with ``mac`` refuses to read another device as the plug.

What a plug measures depends on its firmware: ``PlugReading.measures`` names the
values it really reports (from python-kasa's energy module, as Home Assistant's own
``tplink`` creates entities only for a device's features). A P110 on its first
firmware (``energy_monitoring`` component version 1) has no voltage and no current.

HTTP sessions are injected (``session_factory``; Home Assistant's layer makes them on
its shared connection pool), one per plug, made at its first connect and kept across
reconnects. Not one for all plugs: python-kasa clears the session's whole cookie jar
before every request and reads the KLAP session cookie of a handshake back from it
afterwards, so with one jar a plug's request wipes the cookie another plug's handshake
has just received whenever the reply's body comes in after its headers. The factory
must make sessions with a cookie jar that accepts cookies from IP addresses
(``kasa.httpclient.get_cookie_jar``) and with ``auto_decompress=False``: no plug
compresses, and aiohttp inflates a compressed reply without any limit -- a gzip bomb
from a plug would cost a gigabyte. Without a factory python-kasa makes its own
session per plug (with decompression on), as in tools and tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from kasa import (
    AuthenticationError,
    Credentials,
    Device,
    DeviceConfig,
    DeviceConnectionParameters,
    Discover,
    KasaException,
    Module,
)
from kasa.interfaces import Energy

# Seconds python-kasa waits for one HTTP exchange with a plug. It retries timeouts up
# to three times with a one-second pause, so one read is bounded separately below.
REQUEST_TIMEOUT = 5
# Seconds a whole read or switch may take, retries included. A dead plug must cost its
# own poll this long at most, never the other plugs' polls.
OPERATION_TIMEOUT = 12.0

GARBLED = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)
"""What python-kasa raises, besides its own errors, on a reply it cannot read: a JSON
parse error, a 5000-digit number, a value of the wrong type, a missing key."""


class PlugError(Exception):
    """A plug could not be read or switched; ``str()`` says why, briefly."""


class PlugAuthError(PlugError):
    """The plug rejected the Tapo account (or speaks a protocol we cannot)."""


class PlugUnreachableError(PlugError):
    """The plug did not answer usably: offline, refused, timed out, garbled."""


class PlugMismatchError(PlugUnreachableError):
    """Another device answers at the plug's address (DHCP gave the address away)."""


class PlugUnsupportedError(PlugError):
    """The device answered, but it is not a plug that measures energy."""


@dataclass(frozen=True, slots=True)
class PlugAddress:
    """Where a plug is and how to speak to it (from discovery or a first connect)."""

    host: str
    connection: Mapping[str, Any]
    """``DeviceConnectionParameters.to_dict()``: family, encryption, login version."""
    port: int | None = None
    """The HTTP port, when it is not the default of the connection type."""

    @property
    def key(self) -> str:
        """What tells two plugs apart on the network (several may share an IP)."""
        port = self.port or self.connection.get("http_port")
        return self.host if port is None else f"{self.host}:{port}"


@dataclass(frozen=True, slots=True)
class PlugReading:
    """Everything BaluPi reads from a plug in one update."""

    mac: str
    alias: str | None
    model: str
    firmware: str | None
    is_on: bool
    power: float | None
    """W"""
    voltage: float | None
    """V"""
    current: float | None
    """A"""
    energy_today: float | None
    """kWh since the plug's local midnight."""
    energy_month: float | None
    """kWh since the first of the plug's local month."""
    rssi: int | None
    device_time: datetime
    """The plug's own clock: its counters reset at its midnight, not ours.

    python-kasa falls back to the local clock for a plug without a clock module."""
    measures: frozenset[str] | None = None
    """What the plug really measures: names of the fields above (``MEASURES``).

    None when it cannot be told from this reading (the energy module failed)."""


POWER = "power"
VOLTAGE = "voltage"
CURRENT = "current"
ENERGY_TODAY = "energy_today"
ENERGY_MONTH = "energy_month"
RSSI = "rssi"
MEASURES = (POWER, VOLTAGE, CURRENT, ENERGY_TODAY, ENERGY_MONTH, RSSI)
"""The values a plug may or may not measure, by their ``PlugReading`` field."""
ENERGY_BASICS = frozenset({POWER, ENERGY_TODAY, ENERGY_MONTH})
"""What every energy module reports (python-kasa gives these features always)."""


def address_of(device: Device) -> PlugAddress:
    """Return how to reach a connected or discovered device again."""
    config = device.config
    return PlugAddress(
        host=config.host,
        connection=config.connection_type.to_dict(),
        port=config.port_override,
    )


def reading_of(device: Device) -> PlugReading:
    """Read an updated python-kasa device into a ``PlugReading``.

    Raises one of ``GARBLED`` when the plug reported values of the wrong type.
    """
    energy = device.modules.get(Module.Energy)
    return PlugReading(
        mac=normalize_mac(device.mac),
        alias=device.alias,
        model=device.model,
        firmware=_firmware(device.hw_info.get("sw_ver")),
        is_on=device.is_on,
        power=_optional(lambda: energy.current_consumption) if energy else None,
        voltage=_optional(lambda: energy.voltage) if energy else None,
        current=_optional(lambda: energy.current) if energy else None,
        energy_today=_optional(lambda: energy.consumption_today) if energy else None,
        energy_month=(
            _optional(lambda: energy.consumption_this_month) if energy else None
        ),
        rssi=device.rssi,
        device_time=device.time,
        measures=measures_of(device),
    )


def measures_of(device: Device) -> frozenset[str] | None:
    """What an updated device really measures (see ``PlugReading.measures``).

    python-kasa's Tapo energy module reports voltage and current only when the plug
    answers ``get_emeter_data`` with them: ``energy_monitoring`` version 2 and later.
    On version 1 it does not even ask, and no voltage or current feature exists.
    """
    energy = device.modules.get(Module.Energy)
    if energy is None:
        return frozenset()
    measures = set(ENERGY_BASICS)
    if energy.supports(Energy.ModuleFeature.VOLTAGE_CURRENT):
        measures |= {VOLTAGE, CURRENT}
    elif _module_failed(energy):
        # Version 2 whose get_emeter_data failed: absent now, not absent for good.
        return None
    if RSSI in device.features:
        measures.add(RSSI)
    return frozenset(measures)


def _module_failed(energy: Any) -> bool:
    """Whether the energy module's last update failed (python-kasa then raises)."""
    try:
        _ = energy.voltage
    except KasaException:
        return True
    return False


def _firmware(value: object) -> str | None:
    """The firmware version: python-kasa passes it on as the plug sent it.

    (It converts the other values, raising one of ``GARBLED`` when it cannot.)
    """
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"the plug reported a {type(value).__name__} as its firmware")


def _optional(read: Any) -> float | None:
    """Return a module value, or None when python-kasa says the module failed."""
    try:
        value = read()
    except KasaException:
        return None
    return None if value is None else float(value)


class PlugClient:
    """The plugs of one Tapo account, each connected once and updated after that."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        request_timeout: int = REQUEST_TIMEOUT,
        operation_timeout: float = OPERATION_TIMEOUT,
    ) -> None:
        """Use ``credentials`` (the TP-Link cloud account) for every plug.

        ``session_factory`` makes each plug's HTTP session (see the module's
        docstring); the caller owns the sessions and closes them.
        """
        self._credentials = credentials
        self._session_factory = session_factory
        self._request_timeout = request_timeout
        self._operation_timeout = operation_timeout
        self._devices: dict[str, Device] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def read(self, address: PlugAddress, mac: str | None = None) -> PlugReading:
        """Update the plug and return what it reports.

        With ``mac``, a device with another MAC at the address raises
        ``PlugMismatchError``: the plug has moved, and something else has its address.
        """
        async with self._operate(address) as device:
            await device.update()
            return _checked(reading_of(device), mac, address)

    async def set_on(
        self, address: PlugAddress, on: bool, mac: str | None = None
    ) -> PlugReading:
        """Switch the plug on or off and return its state afterwards.

        With ``mac``, the device at the address is checked before it is switched.
        """
        async with self._operate(address) as device:
            if mac is not None and normalize_mac(device.mac) != mac:
                raise PlugMismatchError(_mismatch(device.mac, address))
            await device.set_state(on)
            # python-kasa does not update its state after a command.
            await device.update()
            return _checked(reading_of(device), mac, address)

    async def close(self) -> None:
        """Close every connection."""
        for key in list(self._devices):
            await self._disconnect(key)

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def _operate(self, address: PlugAddress) -> AsyncIterator[Device]:
        """Give a connected device; translate and clean up after any failure."""
        key = address.key
        async with self._lock(key):
            try:
                async with asyncio.timeout(self._operation_timeout):
                    device = self._devices.get(key)
                    if device is None:
                        device = await self._connect(address)
                        self._devices[key] = device
                    yield device
            except AuthenticationError as err:
                await self._disconnect(key)
                raise PlugAuthError(f"Tapo account rejected: {err}") from err
            except PlugMismatchError:
                await self._disconnect(key)
                raise
            except TimeoutError as err:
                await self._disconnect(key)
                raise PlugUnreachableError(
                    f"no answer within {self._operation_timeout:g} s"
                ) from err
            except (KasaException, OSError) as err:
                await self._disconnect(key)
                raise PlugUnreachableError(_short(err)) from err
            except GARBLED as err:
                await self._disconnect(key)
                raise PlugUnreachableError(f"garbled reply: {_short(err)}") from err

    async def _connect(self, address: PlugAddress) -> Device:
        config = DeviceConfig(
            host=address.host,
            timeout=self._request_timeout,
            port_override=address.port,
            credentials=self._credentials,
            connection_type=DeviceConnectionParameters.from_dict(
                dict(address.connection)
            ),
            http_client=self._session(address.key),
        )
        # Device.connect updates the device once and closes it again on failure.
        return await Device.connect(config=config)

    def _session(self, key: str) -> aiohttp.ClientSession | None:
        """The plug's own HTTP session, made at its first connect; None: python-kasa's."""
        if self._session_factory is None:
            return None
        if (session := self._sessions.get(key)) is None:
            session = self._sessions[key] = self._session_factory()
        return session

    async def _disconnect(self, key: str) -> None:
        device = self._devices.pop(key, None)
        if device is not None:
            with contextlib.suppress(Exception):
                await device.disconnect()


async def probe_plug(
    host: str,
    credentials: Credentials,
    *,
    port: int | None = None,
    discovery_timeout: float = 3,
    request_timeout: int = REQUEST_TIMEOUT,
    http_session: aiohttp.ClientSession | None = None,
) -> tuple[PlugAddress, PlugReading]:
    """Find out how to speak to the plug at ``host`` and read it once.

    Without a port, asks the plug over UDP first (it answers with its protocol and
    port); where UDP is blocked, or for a plug behind a forwarded ``port``, tries
    every protocol python-kasa knows over TCP. ``http_session`` is made like those
    of ``PlugClient``'s ``session_factory``; None lets python-kasa make one.
    """
    device: Device | None = None
    try:
        if port is None:
            try:
                device = await Discover.discover_single(
                    host,
                    credentials=credentials,
                    discovery_timeout=int(max(1, discovery_timeout)),
                    timeout=request_timeout,
                )
            except TimeoutError:
                device = None
            if device is not None:
                # Discovery cannot be given a session (python-kasa 0.10 to 0.12).
                device.config.http_client = http_session
        if device is None and port is not None:
            device = await _connect_klap(
                host, port, credentials, request_timeout, http_session
            )
        if device is None:
            device = await Discover.try_connect_all(
                host,
                credentials=credentials,
                timeout=request_timeout,
                port=port,
                http_client=http_session,
            )
        if device is None:
            raise PlugUnreachableError(f"no Tapo plug answers at {host}")
        await device.update()
        _require_energy(device)
        return address_of(device), reading_of(device)
    except AuthenticationError as err:
        raise PlugAuthError(f"Tapo account rejected: {err}") from err
    except (KasaException, OSError) as err:
        raise PlugUnreachableError(_short(err)) from err
    except GARBLED as err:
        raise PlugUnreachableError(f"garbled reply: {_short(err)}") from err
    finally:
        if device is not None:
            with contextlib.suppress(Exception):
                await device.disconnect()


# What current P110/P115 firmware speaks (library-apis §1.8).
KLAP_V2 = {
    "device_family": "SMART.TAPOPLUG",
    "encryption_type": "KLAP",
    "login_version": 2,
    "https": False,
}


async def _connect_klap(
    host: str,
    port: int,
    credentials: Credentials,
    timeout: int,
    http_session: aiohttp.ClientSession | None,
) -> Device | None:
    """Connect with the protocol of current plug firmware, telling a wrong account.

    python-kasa's try-everything connect cannot say why nothing worked; a direct
    connect can, and it is what current firmware needs anyway.
    """
    config = DeviceConfig(
        host=host,
        timeout=timeout,
        port_override=port,
        credentials=credentials,
        connection_type=DeviceConnectionParameters.from_dict(dict(KLAP_V2)),
        http_client=http_session,
    )
    try:
        return await Device.connect(config=config)
    except AuthenticationError:
        raise
    except KasaException:
        return None


async def discover_plugs(
    credentials: Credentials,
    *,
    target: str = "255.255.255.255",
    discovery_timeout: float = 5,
    request_timeout: int = REQUEST_TIMEOUT,
    http_session: aiohttp.ClientSession | None = None,
) -> list[tuple[PlugAddress, PlugReading]]:
    """Find the energy-monitoring Tapo plugs on the network and read each once.

    Devices that reject the account, that are not plugs with energy monitoring, or
    that do not answer (or garble their replies) are left out; the user can still add
    a plug by its address. The plugs are read one after the other, so they can share
    ``http_session`` (made like those of ``PlugClient``'s ``session_factory``).
    """
    devices = await Discover.discover(
        target=target,
        credentials=credentials,
        discovery_timeout=int(max(1, discovery_timeout)),
        timeout=request_timeout,
    )
    found: list[tuple[PlugAddress, PlugReading]] = []
    for device in devices.values():
        device.config.http_client = http_session
        try:
            await device.update()
            _require_energy(device)
            found.append((address_of(device), reading_of(device)))
        except (KasaException, OSError, PlugError, *GARBLED):
            continue
        finally:
            with contextlib.suppress(Exception):
                await device.disconnect()
    return sorted(found, key=lambda item: item[0].host)


async def find_addresses(
    *,
    target: str = "255.255.255.255",
    discovery_timeout: float = 5,
) -> dict[str, PlugAddress]:
    """Ask the network where Tapo devices answer now: their addresses by MAC.

    python-kasa's UDP discovery, without an account: each device's reply carries its
    MAC, address, protocol and port. Nothing is read from the devices, so a device
    found here is not known to be a plug of the account until it is read.
    """
    devices = await Discover.discover(
        target=target, discovery_timeout=int(max(1, discovery_timeout))
    )
    found: dict[str, PlugAddress] = {}
    for device in devices.values():
        try:
            found[normalize_mac(device.mac)] = address_of(device)
        except (KasaException, *GARBLED):
            continue
        finally:
            with contextlib.suppress(Exception):
                await device.disconnect()
    return found


def normalize_mac(mac: str) -> str:
    """A MAC as BaluPi stores it: lower case, colons (plugs send dashes)."""
    return mac.lower().replace("-", ":")


def _checked(
    reading: PlugReading, mac: str | None, address: PlugAddress
) -> PlugReading:
    if mac is not None and reading.mac != mac:
        raise PlugMismatchError(_mismatch(reading.mac, address))
    return reading


def _mismatch(found: str, address: PlugAddress) -> str:
    return f"another device ({normalize_mac(found)}) answers at {address.key}"


def _require_energy(device: Device) -> None:
    if Module.Energy not in device.modules:
        raise PlugUnsupportedError(
            f"{device.model} at {device.host} does not measure energy"
        )


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
