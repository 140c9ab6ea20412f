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

TIMESTAMP_HEADER = "X-Balupi-Timestamp"
SIGNATURE_HEADER = "X-Balupi-Signature"
WINDOW = 60
"""Seconds a push's timestamp may be off from our clock, either way."""
MAX_BODY = 1024 * 1024
"""A snapshot is a few KB; nothing larger is read."""
MAX_REMEMBERED = 10_000
"""Signatures kept for replay protection; more inside one window is an attack."""

INVALID_SIGNATURE = "invalid signature"
"""The reason given when the secret did not sign the push."""

_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class PushRejectedError(Exception):
    """The push is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        """Refuse with ``status`` and a short ``reason`` for the reply and the log."""
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


class PushVerifier:
    """Checks pushes against the shared secret and remembers what it accepted."""

    def __init__(
        self,
        secret: str,
        *,
        window: int = WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Verify with ``secret``; ``clock`` gives Unix seconds."""
        self._secret = secret
        self._window = window
        self._clock = clock
        self._accepted: dict[str, int] = {}
        """Accepted signatures and the timestamp they carried."""

    def verify(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> VerifiedPush:
        """Return the verified push or raise ``PushRejectedError``.

        413 for a body over 1 MiB, 400 for a body that is not JSON, 401 for anything
        wrong with the signature, its timestamp, or a signature seen before.
        """
        if len(body) > MAX_BODY:
            raise PushRejectedError(413, "body larger than 1 MiB")
        lowered = {key.lower(): value for key, value in headers.items()}
        stamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
        given = lowered.get(SIGNATURE_HEADER.lower(), "").strip().lower()
        if not stamp or not given:
            raise PushRejectedError(401, "missing signature headers")
        if not _TIMESTAMP.fullmatch(stamp):
            raise PushRejectedError(401, "invalid timestamp")
        timestamp = int(stamp)
        now = self._clock()
        if abs(now - timestamp) > self._window:
            raise PushRejectedError(
                401, f"timestamp outside the {self._window} s window"
            )
        if not _SIGNATURE.fullmatch(given):
            raise PushRejectedError(401, "malformed signature")
        parsed = self._parse(body)
        # The raw bytes as sent, and what the NAS hashed: the canonical JSON, or
        # nothing at all for a body that is empty or only whitespace.
        candidates = [
            hashlib.sha256(body).hexdigest(),
            canonical_body_hash(parsed) if body.strip() else EMPTY_BODY_HASH,
        ]
        if not any(
            hmac.compare_digest(
                given, signature(self._secret, method, path, stamp, body_hash)
            )
            for body_hash in candidates
        ):
            raise PushRejectedError(401, INVALID_SIGNATURE)
        self._remember(given, timestamp, now)
        return VerifiedPush(method.upper(), path, timestamp, parsed)

    @staticmethod
    def _parse(body: bytes) -> Any:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as err:
            raise PushRejectedError(400, "body is not JSON") from err

    @property
    def accepted(self) -> dict[str, int]:
        """The signatures accepted (still within the window) and their timestamps."""
        now = self._clock()
        return {
            given: stamp
            for given, stamp in self._accepted.items()
            if abs(now - stamp) <= self._window
        }

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
                and abs(now - stamp) <= self._window
            ):
                self._accepted[given] = stamp

    def _remember(self, given: str, timestamp: int, now: float) -> None:
        """Accept each signature once while its timestamp could still pass."""
        for seen, stamp in list(self._accepted.items()):
            if abs(now - stamp) > self._window:
                del self._accepted[seen]
        if given in self._accepted:
            raise PushRejectedError(401, "signature already used")
        if len(self._accepted) >= MAX_REMEMBERED:
            raise PushRejectedError(401, "too many pushes")
        self._accepted[given] = timestamp
