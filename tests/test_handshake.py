"""Signed pushes: verified exactly as the real NAS signs and sends them (plain module)."""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import hmac
import json
import sys
from typing import Any

import pytest

from custom_components.balupi.handshake import (
    MAX_BODY,
    PushRejectedError,
    PushVerifier,
    ReplayGuard,
    digest_small_body,
    hash_body,
    parse_body,
)

SECRET = "Kq3dV0x9r0mN7pL2wT5yH8cJ1fB4gZ6sA-eU_iO3qW9xR2tY"  # 48 URL-safe chars
NOW = 1_795_700_000
OFFLINE = "/api/handshake/nas-going-offline"
ONLINE = "/api/handshake/nas-coming-online"

SNAPSHOT: dict[str, Any] = {
    "version": 1,
    "generated_at": "2026-11-26T20:12:11.123456+00:00",
    "baluhost_version": "1.16.2",
    "system": {"hostname": "baluhost", "uptime_seconds": 86400, "cpu_model": "N100", "ram_total_gb": 15.5},
    "storage": {
        "arrays": [{"name": "md0", "level": "raid1", "state": "optimal", "size_bytes": 4000787030016, "devices": ["sda1", "sdb1"]}],
        "total_bytes": 4000787030016,
        "used_bytes": 1234567890123,
    },
    "smart_health": {"/dev/sda": {"status": "PASSED", "temperature_c": 34, "power_on_hours": 12000}},
    "services": {"vpn": {"active_clients": 0}, "shares": {"active_shares": 2}, "backups": {"last_backup": None, "status": "none"}},
    "users": {"total": 2, "list": [{"username": "jörg", "role": "admin"}, {"username": "anna", "role": "user"}]},
    "files_summary": {"total_files": 120000, "total_size_bytes": 987654321},
}  # fmt: skip


def nas_request(
    path: str,
    body: dict[str, Any] | None,
    *,
    secret: str = SECRET,
    timestamp: int = NOW,
    method: str = "POST",
) -> tuple[dict[str, str], bytes]:
    """Headers and raw body exactly as BaluHost sends them.

    It hashes the canonical JSON but sends its HTTP client's own serialisation
    (httpx 0.27: plain json.dumps, insertion order, ", " and ": ").
    """
    if body is None:
        body_hash, raw = hashlib.sha256(b"").hexdigest(), b""
    else:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        body_hash = hashlib.sha256(canonical.encode()).hexdigest()
        raw = json.dumps(body).encode()
    message = f"{method}:{path}:{timestamp}:{body_hash}"
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "X-Balupi-Timestamp": str(timestamp),
        "X-Balupi-Signature": signature,
        "Content-Type": "application/json",
    }
    return headers, raw


@pytest.fixture
def verifier() -> PushVerifier:
    return PushVerifier(SECRET, clock=lambda: NOW)


def test_startup_push_with_empty_body(verifier: PushVerifier) -> None:
    headers, raw = nas_request(ONLINE, None)
    push = verifier.verify("POST", ONLINE, headers, raw)
    assert push.body is None
    assert push.path == ONLINE
    assert push.timestamp == NOW


def test_a_body_of_only_whitespace_counts_as_empty(verifier: PushVerifier) -> None:
    """A proxy that adds a newline to an empty body does not break the startup push."""
    headers, _ = nas_request(ONLINE, None)
    push = verifier.verify("POST", ONLINE, headers, b" \r\n")
    assert push.body is None


def test_shutdown_push_with_the_nas_non_canonical_bytes(verifier: PushVerifier) -> None:
    """The pitfall that broke the old Pi: raw bytes differ from what was hashed."""
    headers, raw = nas_request(OFFLINE, SNAPSHOT)
    canonical = json.dumps(SNAPSHOT, sort_keys=True, separators=(",", ":")).encode()
    assert raw != canonical
    assert b"j\\u00f6rg" in raw, "ASCII escapes, as the NAS sends them"
    push = verifier.verify("POST", OFFLINE, headers, raw)
    assert push.body == SNAPSHOT


def test_canonical_bytes_are_accepted_too(verifier: PushVerifier) -> None:
    headers, _ = nas_request(OFFLINE, SNAPSHOT)
    canonical = json.dumps(SNAPSHOT, sort_keys=True, separators=(",", ":")).encode()
    assert verifier.verify("POST", OFFLINE, headers, canonical).body == SNAPSHOT


def test_headers_in_any_case_and_signature_in_capitals(verifier: PushVerifier) -> None:
    headers, raw = nas_request(ONLINE, None)
    shouted = {
        "x-balupi-timestamp": headers["X-Balupi-Timestamp"],
        "X-BALUPI-SIGNATURE": headers["X-Balupi-Signature"].upper(),
    }
    assert verifier.verify("POST", ONLINE, shouted, raw).body is None


@pytest.mark.parametrize("skew", [-60, 60])
def test_clock_skew_inside_the_window(verifier: PushVerifier, skew: int) -> None:
    headers, raw = nas_request(ONLINE, None, timestamp=NOW + skew)
    verifier.verify("POST", ONLINE, headers, raw)


def rejected(
    verifier: PushVerifier, path: str, headers: dict[str, str], raw: bytes
) -> tuple[int, str]:
    with pytest.raises(PushRejectedError) as raised:
        verifier.verify("POST", path, headers, raw)
    return raised.value.status, raised.value.reason


def test_a_signature_is_accepted_once(verifier: PushVerifier) -> None:
    headers, raw = nas_request(OFFLINE, SNAPSHOT)
    verifier.verify("POST", OFFLINE, headers, raw)
    assert rejected(verifier, OFFLINE, headers, raw) == (401, "signature already used")


def test_replays_are_forgotten_once_their_window_passed() -> None:
    now = [NOW]
    verifier = PushVerifier(SECRET, clock=lambda: now[0])
    first = nas_request(ONLINE, None)
    verifier.verify("POST", ONLINE, *first)
    now[0] += 61
    second = nas_request(ONLINE, None, timestamp=now[0])
    verifier.verify("POST", ONLINE, *second)
    assert rejected(verifier, ONLINE, *first)[1] == "timestamp outside the 60 s window"


def test_what_was_accepted_survives_a_restart() -> None:
    """A push accepted before a restart is still a replay after it."""
    now = [NOW]
    before = PushVerifier(SECRET, clock=lambda: now[0])
    first = nas_request(ONLINE, None)
    before.verify("POST", ONLINE, *first)
    now[0] += 30
    second = nas_request(OFFLINE, SNAPSHOT, timestamp=now[0])
    before.verify("POST", OFFLINE, *second)
    saved = json.loads(json.dumps(before.accepted))
    assert len(saved) == 2

    now[0] += 40  # the first push's window has passed, the second's has not
    after = PushVerifier(SECRET, clock=lambda: now[0])
    after.restore_accepted(saved)
    assert after.accepted == {second[0]["X-Balupi-Signature"]: NOW + 30}
    assert rejected(after, OFFLINE, *second) == (401, "signature already used")
    assert rejected(after, ONLINE, *first)[1] == "timestamp outside the 60 s window"


def test_unreadable_saved_signatures_are_skipped(verifier: PushVerifier) -> None:
    headers, raw = nas_request(ONLINE, None)
    verifier.restore_accepted(
        {
            "not a signature": NOW,
            "A" * 64: NOW,
            "a" * 64: "yesterday",
            "b" * 64: True,
            "c" * 64: NOW - 61,
        }
    )
    assert verifier.accepted == {}
    verifier.verify("POST", ONLINE, headers, raw)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "x" * 48}, "invalid signature"),
        ({"method": "PUT"}, "invalid signature"),
        ({"timestamp": NOW - 61}, "timestamp outside the 60 s window"),
        ({"timestamp": NOW + 61}, "timestamp outside the 60 s window"),
    ],
)
def test_forgeries_are_refused(
    verifier: PushVerifier, change: dict[str, Any], reason: str
) -> None:
    headers, raw = nas_request(OFFLINE, SNAPSHOT, **change)
    assert rejected(verifier, OFFLINE, headers, raw) == (401, reason)


def test_a_signature_for_another_path_is_refused(verifier: PushVerifier) -> None:
    headers, raw = nas_request(ONLINE, None)
    assert rejected(verifier, OFFLINE, headers, raw) == (401, "invalid signature")


def test_a_tampered_body_is_refused(verifier: PushVerifier) -> None:
    headers, raw = nas_request(OFFLINE, SNAPSHOT)
    tampered = raw.replace(b'"admin"', b'"user"')
    assert rejected(verifier, OFFLINE, headers, tampered) == (401, "invalid signature")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature headers"),
        ({"X-Balupi-Timestamp": str(NOW)}, "missing signature headers"),
        ({"X-Balupi-Signature": "a" * 64}, "missing signature headers"),
        (
            {
                "X-Balupi-Timestamp": "2026-11-26T20:12:11Z",
                "X-Balupi-Signature": "a" * 64,
            },
            "invalid timestamp",
        ),
        (
            {"X-Balupi-Timestamp": "-5", "X-Balupi-Signature": "a" * 64},
            "invalid timestamp",
        ),
        (
            {"X-Balupi-Timestamp": "9" * 40, "X-Balupi-Signature": "a" * 64},
            "invalid timestamp",
        ),
        (
            {"X-Balupi-Timestamp": str(NOW), "X-Balupi-Signature": "a" * 63},
            "malformed signature",
        ),
        (
            {"X-Balupi-Timestamp": str(NOW), "X-Balupi-Signature": "g" * 64},
            "malformed signature",
        ),
    ],
)
def test_malformed_headers(
    verifier: PushVerifier, headers: dict[str, str], reason: str
) -> None:
    assert rejected(verifier, ONLINE, headers, b"") == (401, reason)


def test_body_over_one_mib(verifier: PushVerifier) -> None:
    headers, _ = nas_request(OFFLINE, SNAPSHOT)
    huge = b'{"pad": "' + b"x" * MAX_BODY + b'"}'
    assert rejected(verifier, OFFLINE, headers, huge) == (413, "body larger than 1 MiB")


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b'{"a": 1'])
def test_body_that_is_not_json(verifier: PushVerifier, raw: bytes) -> None:
    headers, _ = nas_request(OFFLINE, SNAPSHOT)
    assert rejected(verifier, OFFLINE, headers, raw) == (400, "body is not JSON")


def test_flood_of_valid_pushes_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("custom_components.balupi.handshake.MAX_REMEMBERED", 3)
    verifier = PushVerifier(SECRET, clock=lambda: NOW)
    for offset in range(3):
        verifier.verify(
            "POST", ONLINE, *nas_request(ONLINE, None, timestamp=NOW - offset)
        )
    headers, raw = nas_request(ONLINE, None, timestamp=NOW - 3)
    assert rejected(verifier, ONLINE, headers, raw) == (401, "too many pushes")


def test_one_guard_accepts_a_signature_once_for_every_secret() -> None:
    """Two entries with the same secret share the guard: the second one refuses."""
    guard = ReplayGuard(clock=lambda: NOW)
    first = PushVerifier(SECRET, guard=guard)
    second = PushVerifier(SECRET, guard=guard)
    headers, raw = nas_request(OFFLINE, SNAPSHOT)
    first.verify("POST", OFFLINE, headers, raw)
    assert rejected(second, OFFLINE, headers, raw) == (401, "signature already used")


def test_the_headers_are_judged_without_the_body() -> None:
    """Everything but the signature itself is checked before a body is read."""
    guard = ReplayGuard(clock=lambda: NOW)
    headers, _ = nas_request(OFFLINE, SNAPSHOT)
    admitted = guard.admit(headers)
    assert admitted.timestamp == NOW
    assert admitted.signature == headers["X-Balupi-Signature"]
    guard.remember(admitted)
    with pytest.raises(PushRejectedError, match="signature already used"):
        guard.admit(headers)


def test_a_signature_accepted_while_its_twin_was_read_is_refused() -> None:
    """Two copies sent at once both pass the headers; only the first is accepted."""
    guard = ReplayGuard(clock=lambda: NOW)
    headers, _ = nas_request(ONLINE, None)
    copies = [guard.admit(headers), guard.admit(headers)]
    guard.remember(copies[0])
    with pytest.raises(PushRejectedError, match="signature already used"):
        guard.remember(copies[1])


def test_small_and_large_bodies_hash_alike() -> None:
    """The C path and the pure-Python path give the same hashes and value."""
    _, raw = nas_request(OFFLINE, SNAPSHOT)
    small = digest_small_body(raw)
    assert small is not None
    assert small.value == SNAPSHOT
    large = hash_body(raw)
    assert large.hashes == small.hashes
    assert not large.parsed
    assert parse_body(large) == SNAPSHOT


def test_a_body_too_deep_for_c_is_left_to_the_pure_python_path() -> None:
    """Python 3.13's C parser gives up at this depth; 3.14's parses it: both agree."""
    depth = 50_000
    raw = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    small = digest_small_body(raw)
    digest = hash_body(raw)
    if sys.version_info < (3, 14):
        assert small is None
    else:
        assert small is not None
        assert small.hashes == digest.hashes
    assert digest.hashes[1] == hashlib.sha256(raw).hexdigest(), "already canonical"
    value, levels = parse_body(digest)["a"], 1
    while value:
        value, levels = value[0], levels + 1
    assert levels == depth


def test_a_verifier_checks_a_large_push_like_a_small_one() -> None:
    """Over 16 KiB the pure-Python path decides, with the same verdict."""
    snapshot = {**SNAPSHOT, "pad": ["x" * 100] * 300}
    headers, raw = nas_request(OFFLINE, snapshot)
    assert len(raw) > 16 * 1024
    verifier = PushVerifier(SECRET, clock=lambda: NOW)
    assert verifier.verify("POST", OFFLINE, headers, raw).body == snapshot


def _small(raw: bytes) -> Any:
    """As the view does: the C path, or the pure-Python one when C gives up."""
    return digest_small_body(raw) or hash_body(raw)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b"9" * 5000, b"\xff", b"{", b"[1,]"],
    ids=["nested", "digits", "bad-utf-8", "unclosed", "trailing-comma"],
)
@pytest.mark.parametrize("digest", [_small, hash_body], ids=["small", "large"])
def test_hostile_bodies_are_refused_by_both_paths(
    digest: Callable[[bytes], Any], raw: bytes
) -> None:
    with pytest.raises(PushRejectedError) as raised:
        digest(raw)
    assert (raised.value.status, raised.value.reason) == (400, "body is not JSON")


def test_both_paths_refuse_a_body_over_1_mib() -> None:
    huge = b" " * (MAX_BODY + 1)
    for digest in (digest_small_body, hash_body):
        with pytest.raises(PushRejectedError, match="larger than 1 MiB"):
            digest(huge)


def test_an_empty_chunked_body_hashes_as_no_body() -> None:
    """A chunked push without a body takes the large path: it is still empty."""
    assert hash_body(b" \r\n").hashes == (
        hashlib.sha256(b" \r\n").hexdigest(),
        hashlib.sha256(b"").hexdigest(),
    )
