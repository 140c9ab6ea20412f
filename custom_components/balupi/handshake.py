"""Verifying the BaluHost NAS's signed pushes, exactly as the real NAS signs them.

Plain Python, no Home Assistant. The NAS sends ``X-Balupi-Timestamp`` (Unix seconds)
and ``X-Balupi-Signature`` (lowercase hex HMAC-SHA256 keyed with the shared secret's
UTF-8 bytes) over ``"{METHOD}:{path}:{timestamp}:{sha256_hex(body)}"``, where the body
hash is taken over the *canonical* JSON (sorted keys, ``(",", ":")`` separators,
ASCII escapes) or over ``b""`` without a body.

The NAS's HTTP client does not send those canonical bytes (it uses its own
``json.dumps``: insertion order, ``", "`` and ``": "``), so a receiver that hashes the
raw body rejects every shutdown push. This one parses the JSON and hashes its
canonical form, and also accepts a raw-bytes match. On top of what the old Pi did
(±60 s window, constant-time compare) a signature is accepted only once.

A push is checked in the order of what each check costs, so that nothing a sender
without the secret can make us do costs more than reading its headers:

1. :meth:`ReplayGuard.admit`, on the headers alone: both present, the timestamp
   within the window, the signature well-formed and not accepted before;
2. the body, at most 1 MiB, parsed and hashed by :func:`digest_small_body` (C, for a
   body of up to 16 KiB) or only hashed by :func:`hash_body` (pure Python, for a
   worker thread: it hands the interpreter lock back every few milliseconds and
   builds no objects for the garbage collector);
3. :meth:`PushVerifier.signed`, one HMAC per candidate hash and secret;
4. :meth:`ReplayGuard.remember`, which refuses a signature that another request got
   accepted in the meantime; only then is a large body parsed (:func:`parse_body`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import hashlib
import hmac
import json
import re
import time
from typing import Any

from .canonical_json import canonical, loads_bytes

TIMESTAMP_HEADER = "X-Balupi-Timestamp"
SIGNATURE_HEADER = "X-Balupi-Signature"
WINDOW = 60
"""Seconds a push's timestamp may be off from our clock, either way."""
MAX_BODY = 1024 * 1024
"""A snapshot is a few KB; nothing larger is read."""
SMALL_BODY = 16 * 1024
"""Bodies up to this size are parsed in C at once (well under a millisecond for a
snapshot, a few at worst); larger ones by :func:`hash_body` in a worker thread."""
PAUSE = 0.0003
"""Seconds a worker thread hashing a body rests after each ~1 ms of work."""
MAX_REMEMBERED = 10_000
"""Signatures kept for replay protection; more inside one window is an attack."""

INVALID_SIGNATURE = "invalid signature"
"""The reason given when no secret signed the push."""
NOT_JSON = "body is not JSON"
TOO_LARGE = "body larger than 1 MiB"

_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HASH_BATCH = 4096
"""Canonical JSON pieces hashed at once."""


class PushRejectedError(Exception):
    """The push is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        """Refuse with ``status`` and a short ``reason`` for the reply and the log."""
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """A push's signature headers, checked as far as they can be without the body."""

    stamp: str
    """The timestamp as sent (it is part of the signed string)."""
    timestamp: int
    signature: str
    """Lowercase hex."""


@dataclass(frozen=True, slots=True)
class BodyDigest:
    """A push's body: the hashes a signature may cover, and its JSON value."""

    raw: bytes
    hashes: tuple[str, ...]
    """SHA-256 of the raw bytes, and of the canonical JSON (or of nothing)."""
    value: Any = None
    """The parsed JSON body; None without a body, or when not ``parsed`` yet."""
    parsed: bool = True
    """False when only the hashes were taken (:func:`hash_body`)."""


@dataclass(frozen=True, slots=True)
class VerifiedPush:
    """A push that passed every check."""

    method: str
    path: str
    timestamp: int
    body: Any
    """The parsed JSON body, or None when the push had none."""


EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()


def canonical_body_hash(body: Any) -> str:
    """Hash a JSON value the way BaluHost does before signing."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def signature(
    secret: str, method: str, path: str, timestamp: str, body_hash: str
) -> str:
    """BaluHost's signature over one request."""
    message = f"{method.upper()}:{path}:{timestamp}:{body_hash}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def digest_small_body(body: bytes) -> BodyDigest | None:
    """Parse and hash a small body with the C ``json`` module, at once.

    Returns None when the body is nested too deeply for C's recursion limit: then
    :func:`hash_body` (which has none) decides.

    Raises:
        PushRejectedError: 413 over 1 MiB, 400 for a body that is not JSON.
    """
    _check_size(body)
    if not body.strip():
        return _empty(body)
    try:
        value = json.loads(body)
        canonical_text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except RecursionError:
        return None
    except ValueError as err:  # UnicodeDecodeError included
        raise PushRejectedError(400, NOT_JSON) from err
    return BodyDigest(
        body,
        (
            hashlib.sha256(body).hexdigest(),
            hashlib.sha256(canonical_text.encode()).hexdigest(),
        ),
        value,
    )


def hash_body(body: bytes) -> BodyDigest:
    """Hash a body of any size and depth in pure Python, for a worker thread.

    It builds no objects from the JSON; :func:`parse_body` gives the value later.

    Raises:
        PushRejectedError: 413 over 1 MiB, 400 for a body that is not JSON.
    """
    _check_size(body)
    if not body.strip():
        return _empty(body)
    try:
        text = canonical(
            body.decode(json.detect_encoding(body), "surrogatepass"),
            pause=_let_others_run,
        )
    except ValueError as err:  # UnicodeDecodeError included
        raise PushRejectedError(400, NOT_JSON) from err
    return BodyDigest(
        body,
        (
            hashlib.sha256(body).hexdigest(),
            hashlib.sha256(text.encode()).hexdigest(),
        ),
        parsed=False,
    )


def _let_others_run() -> None:
    """Give the interpreter lock away for a moment (in a worker thread).

    Python asks a busy thread for the lock only after 5 ms, and a thread that gives it
    back at once usually takes it again itself: Home Assistant's event loop, which
    needs the lock for every network event, would wait 5 ms each time.
    """
    time.sleep(PAUSE)


def parse_body(digest: BodyDigest) -> Any:
    """The JSON value of a hashed body (pure Python, for a worker thread)."""
    return digest.value if digest.parsed else loads_bytes(digest.raw)


def digest_body(body: bytes) -> BodyDigest:
    """Hash and parse a body at once: :func:`digest_small_body` when it can."""
    if len(body) <= SMALL_BODY and (digest := digest_small_body(body)) is not None:
        return digest
    digest = hash_body(body)
    return BodyDigest(body, digest.hashes, parse_body(digest))


def _check_size(body: bytes) -> None:
    if len(body) > MAX_BODY:
        raise PushRejectedError(413, TOO_LARGE)


def _empty(body: bytes) -> BodyDigest:
    """An empty body, or one of only whitespace (a proxy may add a newline)."""
    return BodyDigest(body, (hashlib.sha256(body).hexdigest(), EMPTY_BODY_HASH))


class ReplayGuard:
    """What can be checked before a body is read, and each signature accepted once.

    One guard serves every secret: a signature accepted for one NAS is refused for
    all of them, so two entries that share a secret do not accept a push twice.
    """

    def __init__(
        self, *, window: int = WINDOW, clock: Callable[[], float] = time.time
    ) -> None:
        """Accept timestamps within ``window`` seconds of ``clock`` (Unix seconds)."""
        self.window = window
        self._clock = clock
        self._accepted: dict[str, int] = {}
        """Accepted signatures and the timestamp they carried."""

    def admit(self, headers: Mapping[str, str]) -> SignedHeaders:
        """The push's signature headers, or ``PushRejectedError`` (401).

        Missing headers, a timestamp that is malformed or outside the window, a
        signature that is not 64 hex digits, or one accepted before.
        """
        lowered = {key.lower(): value for key, value in headers.items()}
        stamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
        given = lowered.get(SIGNATURE_HEADER.lower(), "").strip().lower()
        if not stamp or not given:
            raise PushRejectedError(401, "missing signature headers")
        if not _TIMESTAMP.fullmatch(stamp):
            raise PushRejectedError(401, "invalid timestamp")
        timestamp = int(stamp)
        if abs(self._clock() - timestamp) > self.window:
            raise PushRejectedError(
                401, f"timestamp outside the {self.window} s window"
            )
        if not _SIGNATURE.fullmatch(given):
            raise PushRejectedError(401, "malformed signature")
        self._forget_expired()
        if given in self._accepted:
            raise PushRejectedError(401, "signature already used")
        return SignedHeaders(stamp, timestamp, given)

    def remember(self, headers: SignedHeaders) -> None:
        """Accept the signature once; refuse it when it was accepted meanwhile."""
        self._forget_expired()
        if headers.signature in self._accepted:
            raise PushRejectedError(401, "signature already used")
        if len(self._accepted) >= MAX_REMEMBERED:
            raise PushRejectedError(401, "too many pushes")
        self._accepted[headers.signature] = headers.timestamp

    @property
    def accepted(self) -> dict[str, int]:
        """The signatures accepted (still within the window) and their timestamps."""
        self._forget_expired()
        return dict(self._accepted)

    def restore_accepted(self, accepted: Mapping[str, Any]) -> None:
        """Remember signatures accepted before a restart; anything malformed is skipped."""
        now = self._clock()
        for given, stamp in accepted.items():
            if (
                len(self._accepted) < MAX_REMEMBERED
                and isinstance(given, str)
                and _SIGNATURE.fullmatch(given)
                and isinstance(stamp, int)
                and not isinstance(stamp, bool)
                and abs(now - stamp) <= self.window
            ):
                self._accepted[given] = stamp

    def _forget_expired(self) -> None:
        """A signature whose timestamp left the window is refused by the window."""
        now = self._clock()
        for seen, stamp in list(self._accepted.items()):
            if abs(now - stamp) > self.window:
                del self._accepted[seen]


class PushVerifier:
    """Checks pushes against one shared secret."""

    def __init__(
        self,
        secret: str,
        *,
        guard: ReplayGuard | None = None,
        window: int = WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Verify with ``secret``; remember accepted pushes in ``guard``.

        Without a guard the verifier has its own, with ``window`` and ``clock``.
        """
        self._secret = secret
        self.guard = guard or ReplayGuard(window=window, clock=clock)

    def signed(
        self, method: str, path: str, headers: SignedHeaders, body: BodyDigest
    ) -> bool:
        """Whether this verifier's secret made the signature (constant-time compare)."""
        return any(
            hmac.compare_digest(
                headers.signature,
                signature(self._secret, method, path, headers.stamp, body_hash),
            )
            for body_hash in body.hashes
        )

    def verify(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> VerifiedPush:
        """Check a whole push at once (every step in the module's order).

        401 for anything wrong with the signature, its timestamp, or a signature
        seen before; 413 for a body over 1 MiB; 400 for a body that is not JSON.
        """
        admitted = self.guard.admit(headers)
        digest = digest_body(body)
        if not self.signed(method, path, admitted, digest):
            raise PushRejectedError(401, INVALID_SIGNATURE)
        self.guard.remember(admitted)
        return VerifiedPush(method.upper(), path, admitted.timestamp, digest.value)

    @property
    def accepted(self) -> dict[str, int]:
        """The signatures its guard accepted (within the window)."""
        return self.guard.accepted

    def restore_accepted(self, accepted: Mapping[str, Any]) -> None:
        """Give its guard the signatures accepted before a restart."""
        self.guard.restore_accepted(accepted)
