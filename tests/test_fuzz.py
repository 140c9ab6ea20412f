"""Fuzzing the pushes: the verifier alone, then both endpoints of a running Home Assistant.

Hypothesis generates random requests, header and body edge cases and valid pushes with
one thing changed. The properties: a push is accepted only when its method, path,
timestamp and body (as JSON, so key order and spacing do not matter) are what the
secret signed, and only once; nothing a client sends gets a 5xx. Together the tests
send well over 10,000 generated requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import json
import time
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import CONF_HEARTBEAT_INTERVAL
from custom_components.balupi.handshake import PushRejectedError, PushVerifier
from simulators.nas_push import OFFLINE_PATH, ONLINE_PATH, signed_headers, wire_body

from .conftest import SECRET

NOW = 1_790_000_000
PATHS = (OFFLINE_PATH, ONLINE_PATH)
VERIFIER_EXAMPLES = 3000
"""Per verifier property (two of them)."""
ENDPOINT_REQUESTS = 5000
"""Sent to the two endpoints of a running Home Assistant."""

# JSON bodies like a snapshot: nested objects, lists, unicode, numbers.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=6)


@dataclass(frozen=True, slots=True)
class Request:
    """One request as sent: method, path, headers, raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    legit: bool
    """Whether it says exactly what the secret signed (accepting it is right)."""
    made_by: str = "random"
    """How it was made: "random", or the change made to a valid push."""


def _signed(method: str, path: str, body: Any, stamp: int) -> Request:
    headers = signed_headers(SECRET, method, path, body, timestamp=stamp)
    raw = b"" if body is None else wire_body(body)
    return Request(method, path, headers, raw, legit=True)


def _same_json(raw: bytes, body: Any) -> bool:
    """Whether ``raw`` is the JSON text of ``body``, whatever its key order or spacing.

    Compared as canonical JSON text, not as Python values: two lone surrogates that
    form a pair come back from the wire as one character, yet the JSON is the same.
    """
    try:
        parsed = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, ValueError):
        return False
    return _canonical(parsed) == _canonical(body)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@st.composite
def mutated(draw: st.DrawFn, now: int) -> Request:
    """A valid push with one thing changed (some changes keep it valid)."""
    path = draw(st.sampled_from(PATHS))
    body = draw(bodies)
    stamp = now + draw(st.integers(-60, 60))
    valid = _signed("POST", path, body, stamp)
    mutation = draw(
        st.sampled_from(
            [
                "none",
                "path",
                "method",
                "stamp",
                "signature",
                "secret",
                "body_bytes",
                "body_value",
                "respaced",
                "upper_signature",
                "drop_header",
                "stale",
            ]
        )
    )
    headers, raw, method = dict(valid.headers), valid.body, "POST"
    legit = False
    if mutation == "none":
        legit = True
    elif mutation == "path":
        path = draw(st.sampled_from([p for p in PATHS if p != path] + [path + "/"]))
    elif mutation == "method":
        method = draw(st.sampled_from(["PUT", "PATCH", "post"]))
        # Lower-case "post" is the same method: HTTP methods are case-sensitive,
        # but the signature's method is upper-cased by both sides.
        legit = method == "post"
    elif mutation == "stamp":
        shift = draw(st.integers(1, 30)) * draw(st.sampled_from([-1, 1]))
        headers["X-Balupi-Timestamp"] = str(stamp + shift)
    elif mutation == "signature":
        position = draw(st.integers(0, 63))
        old = headers["X-Balupi-Signature"][position]
        new = draw(st.sampled_from([c for c in "0123456789abcdef" if c != old]))
        signature = headers["X-Balupi-Signature"]
        headers["X-Balupi-Signature"] = (
            signature[:position] + new + signature[position + 1 :]
        )
    elif mutation == "secret":
        other = draw(st.text(min_size=32, max_size=48).filter(lambda s: s != SECRET))
        headers = signed_headers(other, "POST", path, body, timestamp=stamp)
    elif mutation == "body_bytes":
        raw = draw(st.binary(max_size=64))
        legit = _same_json(raw, body)
    elif mutation == "body_value":
        changed = draw(bodies)
        raw = b"" if changed is None else wire_body(changed)
        legit = _same_json(raw, body)
    elif mutation == "respaced":
        # The same JSON, laid out differently: still what was signed.
        raw = b"" if body is None else json.dumps(body, indent=2).encode()
        legit = True
    elif mutation == "upper_signature":
        headers["X-Balupi-Signature"] = headers["X-Balupi-Signature"].upper()
        legit = True
    elif mutation == "drop_header":
        del headers[draw(st.sampled_from(["X-Balupi-Timestamp", "X-Balupi-Signature"]))]
    elif mutation == "stale":
        # At least 3 minutes off: still outside the window when the endpoint test
        # sends it, a minute or so after the requests were made.
        stale = now + draw(st.sampled_from([-1, 1])) * draw(st.integers(180, 10**6))
        headers = signed_headers(SECRET, "POST", path, body, timestamp=stale)
    return Request(method, path, headers, raw, legit, mutation)


@st.composite
def random_requests(draw: st.DrawFn, now: int) -> Request:
    """Anything: odd headers, odd bodies, odd timestamps."""
    stamp = draw(
        st.one_of(
            st.integers(now - 100, now + 100).map(str),
            st.text(max_size=16),
            st.sampled_from(["", " ", "1e9", "-5", "0x10", str(now) + ".0", "٣"]),
        )
    )
    signature = draw(
        st.one_of(
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
            st.text(max_size=80),
        )
    )
    headers = {"Content-Type": "application/json"}
    if draw(st.booleans()):
        headers["X-Balupi-Timestamp"] = stamp
    if draw(st.booleans()):
        headers["X-Balupi-Signature"] = signature
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            bodies.map(lambda b: b"" if b is None else wire_body(b)),
            st.sampled_from([b"{", b"null", b"[]", b'"x"', b"\xff\xfe", b" " * 10]),
        )
    )
    return Request("POST", draw(st.sampled_from(PATHS)), headers, body, legit=False)


def _printable(headers: dict[str, str]) -> bool:
    """Whether an HTTP client can send these headers at all (latin-1, no controls)."""
    try:
        for value in headers.values():
            value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    # Newer aiohttp clients refuse every control character in a header value.
    return not any(
        ord(c) < 0x20 or ord(c) == 0x7F for value in headers.values() for c in value
    )


def _verify(verifier: PushVerifier, request: Request) -> int:
    """The status the push gets: 200 when accepted."""
    try:
        verifier.verify(request.method, request.path, request.headers, request.body)
    except PushRejectedError as err:
        status = err.status
    else:
        status = 200
    assert status in {200, 400, 401, 413}, status
    return status


@settings(max_examples=VERIFIER_EXAMPLES, deadline=None, derandomize=True)
@given(request=random_requests(NOW))
def test_random_requests_are_refused_with_a_client_error(request: Request) -> None:
    verifier = PushVerifier(SECRET, clock=lambda: NOW)
    assert _verify(verifier, request) != 200


@settings(max_examples=VERIFIER_EXAMPLES, deadline=None, derandomize=True)
@given(request=mutated(NOW))
def test_a_changed_push_is_accepted_only_when_it_says_the_same(
    request: Request,
) -> None:
    """And a push that is accepted is refused the second time."""
    verifier = PushVerifier(SECRET, clock=lambda: NOW)
    status = _verify(verifier, request)
    assert (status == 200) == request.legit, (status, request)
    if status == 200:
        assert _verify(verifier, request) == 401


def _generate(
    strategy: Callable[[int], st.SearchStrategy[Request]], count: int, now: int
) -> list[Request]:
    """Let Hypothesis make ``count`` requests (edge cases included), to send later.

    The endpoints run in Home Assistant's event loop, which Hypothesis's own runner
    cannot drive, so the requests are generated first and sent in one test.
    """
    made: list[Request] = []

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=strategy(now))
    def collect(request: Request) -> None:
        made.append(request)

    collect()
    return made


@pytest.mark.timeout(900)  # 5,000 requests: minutes on a loaded 2-core machine
async def test_the_endpoints_never_fail_and_accept_no_forgery(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of generated pushes at both endpoints: no 5xx, no forgery accepted.

    Every refused request leaves the NAS's state as it was; only the legit ones may
    move it. The heartbeat runs once an hour here, so nothing else moves the state
    while the requests go in.
    """
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_HEARTBEAT_INTERVAL: 3600}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    loaded_entry = config_entry
    now = int(time.time())
    # The requests are made for this moment and sent over the next minutes (more on
    # a loaded machine): the endpoints judge their timestamps by this moment too.
    monkeypatch.setattr(loaded_entry.runtime_data.verifier.guard, "_clock", lambda: now)
    requests = [
        *_generate(random_requests, ENDPOINT_REQUESTS // 2, now),
        *_generate(mutated, ENDPOINT_REQUESTS // 2, now),
    ]
    client = await hass_client_no_auth()
    nas = loaded_entry.runtime_data.nas
    sent = accepted = 0
    for request in requests:
        if not _printable(request.headers):
            continue
        before = nas.status.state
        response = await client.request(
            request.method, request.path, data=request.body, headers=request.headers
        )
        sent += 1
        assert response.status < 500, (response.status, request)
        if request.method.upper() != "POST":
            # Home Assistant's router refuses other methods before BaluPi sees them.
            assert response.status == 405
            assert nas.status.state is before
            continue
        if request.path not in PATHS:
            assert response.status == 404, (response.status, request)
            continue
        if response.content_type != "application/json":
            # aiohttp's HTTP parser refused the request (a control character in a
            # header, say) before any handler saw it.
            assert response.status == 400, (response.status, request)
            assert nas.status.state is before
            continue
        reply = await response.json()
        if response.status == 200:
            accepted += 1
            assert request.legit, request
            assert reply["acknowledged"] is True
        else:
            assert reply["acknowledged"] is False
            assert nas.status.state is before
    assert sent >= 4000, sent  # at least 10,000 requests with the verifier tests
    assert accepted > 0, "some generated pushes were valid"
