"""Reading a peer's HTTP reply without trusting it: bounded, decoded, then parsed.

Plain Python, no Home Assistant. The NAS's health endpoint and the Pi-hole answer a
few KB of JSON. Whatever else a peer sends -- a gzip bomb, a body without end, JSON
nested 60,000 deep, a 5000-digit number, bytes that are not UTF-8 -- must cost little
and end in one ``ReplyError``, which each client turns into its own error.

* Requests ask for the body as it is (``Accept-Encoding: identity``) and are sent with
  ``auto_decompress=False``: aiohttp's own decompression has no
  size limit and inflates a body as it arrives, before any cap could apply, whether
  the body is read or not.
* A body compressed anyway with gzip or (zlib) deflate is inflated here, never past
  the cap; any other content coding is refused.
* JSON is parsed only after a cheap check that it nests at most ``MAX_DEPTH`` deep,
  and integers may have at most ``MAX_INT_DIGITS`` digits: Python's parser recurses
  once per level and converts integers in quadratic time (refusing more than 4300
  digits with a bare ``ValueError``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
import zlib

import aiohttp
from aiohttp import hdrs

ACCEPT_IDENTITY: Final[dict[str, str]] = {hdrs.ACCEPT_ENCODING: "identity"}
"""Request headers asking for an uncompressed reply."""
MAX_DEPTH: Final = 32
"""Nesting levels of JSON arrays and objects a reply may have."""
MAX_INT_DIGITS: Final = 40
"""Digits an integer in a reply may have (2**128 has 39)."""
CHUNK_BYTES: Final = 64 * 1024

_INFLATED_CODINGS: Final = frozenset({"gzip", "x-gzip", "deflate"})
# A JSON string, escapes included. Possessive quantifiers: linear on any input.
_STRING: Final = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]++")
_EMPTY_PAIR: Final = re.compile(r"\[\]|\{\}")


class ReplyError(Exception):
    """A reply that cannot be used; ``str()`` says why, briefly."""


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Return the body of ``response``, uncompressed, if it has at most ``limit`` bytes.

    The request must have been sent with ``auto_decompress=False``. Reading stops as
    soon as the body, compressed or not, grows past ``limit``.

    Raises:
        ReplyError: The body is too large, cut short, compressed in a way other
            than gzip or deflate, or its compressed data is corrupt.
    """
    decoder = _decoder(response.headers.getall(hdrs.CONTENT_ENCODING, []))
    body = bytearray()
    received = 0
    try:
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            received += len(chunk)
            if decoder is None:
                body += chunk
            else:
                # max_length bounds what one call inflates; the rest of the input
                # waits in unconsumed_tail, which only exists once over the cap.
                body += decoder.decompress(chunk, limit + 1 - len(body))
            if received > limit or len(body) > limit:
                raise ReplyError(f"reply too large (over {_size(limit)})")
    except aiohttp.ClientPayloadError as err:
        raise ReplyError("reply cut short") from err
    except zlib.error as err:
        raise ReplyError("compressed reply is corrupt") from err
    if decoder is not None and not decoder.eof:
        raise ReplyError("compressed reply cut short")
    if decoder is not None and decoder.unused_data:
        raise ReplyError("reply has data after its compressed body")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """Parse a reply body as JSON, refusing what would be costly to parse.

    Raises:
        ReplyError: The body is not UTF-8 JSON, nests deeper than ``MAX_DEPTH``,
            or has an integer of more than ``MAX_INT_DIGITS`` digits.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as err:
        raise ReplyError("reply is not JSON (not UTF-8)") from err
    _check_nesting(text)
    try:
        return json.loads(text, parse_int=_parse_int)
    except _TooManyDigitsError as err:
        raise ReplyError(
            f"reply has a number of more than {MAX_INT_DIGITS} digits"
        ) from err
    except ValueError as err:
        raise ReplyError("reply is not JSON") from err


def printable(text: str, limit: int = 200) -> str:
    """``text`` for a message or a log line: control characters replaced, kept short."""
    shown = "".join(char if char.isprintable() else "?" for char in text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class _TooManyDigitsError(ValueError):
    pass


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooManyDigitsError
    return int(digits)


def _check_nesting(text: str) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH, in linear time, before parsing.

    Without strings, valid JSON's brackets are balanced; each pass removes the
    innermost empty pairs, so MAX_DEPTH passes remove all of them if and only if
    the nesting is at most MAX_DEPTH deep.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        if not brackets:
            return
        brackets, removed = _EMPTY_PAIR.subn("", brackets)
        if not removed:
            # Unbalanced: not JSON, and the parser must not recurse into it.
            raise ReplyError("reply is not JSON")
    if brackets:
        raise ReplyError(f"reply is nested more than {MAX_DEPTH} deep")


def _decoder(codings: list[str]) -> zlib._Decompress | None:
    """A bounded inflater for the reply's content coding; None when there is none."""
    named = [
        coding.strip().lower()
        for header in codings
        for coding in header.split(",")
        if coding.strip().lower() not in {"", "identity"}
    ]
    if not named:
        return None
    if len(named) == 1 and named[0] in _INFLATED_CODINGS:
        # 32 + MAX_WBITS: a gzip or a zlib header, whichever the data has.
        return zlib.decompressobj(32 + zlib.MAX_WBITS)
    raise ReplyError(
        f"reply is compressed with {printable(', '.join(named), 40)!r}, "
        "which was not asked for"
    )


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
