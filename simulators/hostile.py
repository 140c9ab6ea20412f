"""Replies no honest peer sends, for the simulators to answer with on demand.

BaluPi's clients must survive whatever the NAS, the Pi-hole or a plug sends: every
simulator can be told to answer with one of these kinds instead of its real reply
(``BaluHostSimulator.hostile``, ``PiholeSimulator.hostile``,
``TapoPlugSimulator.hostile``). Two families:

* In the body (``Hostile.in_body``): a well-formed HTTP reply whose JSON is odd --
  nested 30,000 deep, a 5000-digit integer (Python refuses more than 4300 digits with
  a bare ``ValueError``), bytes that are not UTF-8, no JSON at all, or the peer's own
  reply with values of the wrong types (each simulator says what that is). A plug
  sends these inside its encryption, as only a device that knows the account could.
* In the HTTP reply itself: a body far larger than any real reply, a gzip or deflate
  bomb (``BOMB_BYTES`` of JSON whitespace that take about 245 KiB on the wire), a
  content coding nobody asked for, or a body cut short (``Content-Length`` promises
  more than comes before the connection closes).
"""

from __future__ import annotations

from enum import StrEnum
import functools
import zlib

from aiohttp import hdrs, web

DEPTH = 30_000
"""Nesting of ``DEEP_NESTING``: 60 KB, under the NAS client's 64 KiB cap, and 30 times
deeper than Python's parser can recurse."""
DIGITS = 5_000
"""Digits of the integer in ``HUGE_NUMBER``."""
OVERSIZE_BYTES = 8 * 1024 * 1024
"""Body of ``OVERSIZE``: far more than any real reply of the three peers."""
BOMB_BYTES = 245 * 1024 * 1024
"""What a ``GZIP_BOMB`` or ``DEFLATE_BOMB`` inflates to."""
TRUNCATED_MISSING = 1000
"""Bytes ``TRUNCATED`` promises in ``Content-Length`` but never sends."""


class Hostile(StrEnum):
    """A reply no honest peer sends."""

    DEEP_NESTING = "deep_nesting"
    HUGE_NUMBER = "huge_number"
    BAD_UTF8 = "bad_utf8"
    NOT_JSON = "not_json"
    WRONG_TYPES = "wrong_types"
    OVERSIZE = "oversize"
    GZIP_BOMB = "gzip_bomb"
    DEFLATE_BOMB = "deflate_bomb"
    UNASKED_ENCODING = "unasked_encoding"
    TRUNCATED = "truncated"

    @property
    def in_body(self) -> bool:
        """Whether the oddity is in the JSON body, not in the HTTP reply around it."""
        return self in _IN_BODY


_IN_BODY = frozenset(
    {
        Hostile.DEEP_NESTING,
        Hostile.HUGE_NUMBER,
        Hostile.BAD_UTF8,
        Hostile.NOT_JSON,
        Hostile.WRONG_TYPES,
    }
)


def hostile_body(kind: Hostile, *, wrong_types: bytes) -> bytes:
    """The body of an in-body kind; ``wrong_types`` is the peer's own odd reply."""
    bodies = {
        Hostile.DEEP_NESTING: b"[" * DEPTH + b"]" * DEPTH,
        Hostile.HUGE_NUMBER: b'{"error_code": 0, "status": ' + b"9" * DIGITS + b"}",
        Hostile.BAD_UTF8: b'{"status": "\xff\xfe\xc0\xaf"}',
        Hostile.NOT_JSON: b"<html><body>Login</body></html>",
        Hostile.WRONG_TYPES: wrong_types,
    }
    if kind not in bodies:
        raise ValueError(f"{kind} is not in the body")
    return bodies[kind]


async def hostile_response(
    request: web.Request, kind: Hostile, real: web.Response, *, wrong_types: bytes
) -> web.StreamResponse:
    """Answer ``request`` with ``kind`` instead of the ``real`` reply.

    The body kinds replace the real body; the HTTP kinds wrap it (a bomb inflates
    to whitespace only, which is no JSON value either).
    """
    if kind.in_body:
        return web.Response(
            body=hostile_body(kind, wrong_types=wrong_types),
            content_type="application/json",
        )
    body = real.body if isinstance(real.body, bytes) else b""
    return await hostile_http(request, kind, body)


async def hostile_http(
    request: web.Request,
    kind: Hostile,
    body: bytes,
    *,
    content_type: str = "application/json",
) -> web.StreamResponse:
    """Answer ``request`` with an HTTP-level ``kind`` around ``body``."""
    headers: dict[str, str] = {}
    if kind is Hostile.OVERSIZE:
        body += b" " * OVERSIZE_BYTES
    elif kind is Hostile.GZIP_BOMB:
        body, headers = bomb(gzip=True), {hdrs.CONTENT_ENCODING: "gzip"}
    elif kind is Hostile.DEFLATE_BOMB:
        body, headers = bomb(gzip=False), {hdrs.CONTENT_ENCODING: "deflate"}
    elif kind is Hostile.UNASKED_ENCODING:
        # Not even brotli: aiohttp hands it over as it is, or fails to decode it.
        headers = {hdrs.CONTENT_ENCODING: "br"}
    elif kind is Hostile.TRUNCATED:
        return await _truncated(request, body, content_type)
    else:
        raise ValueError(f"{kind} is not an HTTP-level kind")
    return web.Response(body=body, headers=headers, content_type=content_type)


@functools.cache
def bomb(*, gzip: bool) -> bytes:
    """``BOMB_BYTES`` of spaces, gzip- or zlib-compressed (made once, ~245 KiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + 15 if gzip else 15)
    block = b" " * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(BOMB_BYTES // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


async def _truncated(
    request: web.Request, body: bytes, content_type: str
) -> web.StreamResponse:
    response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: content_type})
    response.content_length = len(body) + TRUNCATED_MISSING
    await response.prepare(request)
    await response.write(body)
    if request.transport is not None:
        request.transport.close()
    return response
