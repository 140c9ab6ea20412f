"""JSON read and made canonical exactly like Python's ``json`` module, in pure Python.

Plain Python, no Home Assistant. BaluHost signs the hash of
``json.dumps(body, sort_keys=True, separators=(",", ":"))``, so a push's body must be
parsed and written again in that canonical form before its signature can be checked.
``json.loads`` and ``json.dumps`` do that in C, in one call each: fast, but a call
holds the interpreter lock for as long as it runs (about 40 ms per MiB of small
objects on a slow core), so a worker thread running them stalls Home Assistant's
event loop just the same; the objects they build (a dict per JSON object) also make
Python's garbage collector run a full collection over all of Home Assistant's
objects now and then (half a second on a Pi-sized heap); and nesting a few thousand
levels deep raises ``RecursionError``.

:func:`canonical` turns a JSON text into its canonical text without building the
value: each list or object becomes a string as soon as it closes, so a body leaves
nothing behind for the collector, and a worker thread running it hands the lock back
every few milliseconds. :func:`loads` builds the value the same way, for a push
whose signature was checked. Neither recurses: any depth a body can hold is fine.
Both accept exactly what ``json.loads`` accepts (``NaN`` and ``Infinity`` included,
strings checked strictly); ``tests/test_canonical_json.py`` holds them to that.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from json.encoder import encode_basestring_ascii
import math
import re
from typing import Any

_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
"""The C scanner's string reader (``json`` parses every string with it)."""
PAUSE_EVERY = 1000
"""Values between two calls of :func:`canonical`'s ``pause`` (about a millisecond)."""
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_CONSTANTS = (
    ("null", None),
    ("true", True),
    ("false", False),
)
_SPECIAL_FLOATS = (
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("-Infinity", float("-inf")),
)


class _Open:
    """A list or an object whose members are still being read."""

    __slots__ = ("container", "end", "key")

    def __init__(self, container: Any, key: str | None) -> None:
        self.container = container
        """A list, or a dict when ``key`` is set."""
        self.key = key
        """The name of the object's member being read; None in a list."""
        self.end = "]" if key is None else "}"

    def add(self, value: Any) -> None:
        """Append the value just read, or set the member being read to it."""
        if self.key is None:
            self.container.append(value)
        else:
            self.container[self.key] = value

    def next_member(self, text: str, pos: int) -> int:
        """After a comma at ``pos - 1``: where the next value starts."""
        pos = _skip(text, pos)
        if self.key is not None:
            self.key, pos = _key(text, pos)
        return pos


_OPENED = object()
"""What :func:`_begin` returns for a list or object that has members to read."""


def loads_bytes(body: bytes) -> Any:
    """``json.loads(body)``: the encoding detected the same way (UTF-8, -16, -32).

    Raises:
        ValueError: Not JSON, or not text in the detected encoding
            (``UnicodeDecodeError`` is a ``ValueError``).
    """
    return loads(body.decode(json.detect_encoding(body), "surrogatepass"))


def loads(text: str) -> Any:
    """``json.loads(text)`` for a ``str``, without recursion.

    Raises:
        ValueError: Not JSON, or an integer longer than Python converts.
    """
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM")
    stack: list[_Open] = []
    pos = _skip(text, 0)
    while True:
        value, pos = _begin(text, pos, stack)
        if value is _OPENED:
            continue
        # A value is complete: put it into the list or object it belongs to, and
        # close every list and object that ends right after it.
        while stack:
            top = stack[-1]
            top.add(value)
            pos = _skip(text, pos)
            char = text[pos : pos + 1]
            if char == ",":
                pos = top.next_member(text, pos + 1)
                break
            if char != top.end:
                raise ValueError(f"Expecting ',' delimiter at {pos}")
            stack.pop()
            value, pos = top.container, pos + 1
        else:
            pos = _skip(text, pos)
            if pos != len(text):
                raise ValueError(f"Extra data at {pos}")
            return value


def _skip(text: str, pos: int) -> int:
    """Where the whitespace at ``pos`` ends."""
    return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]


def _begin(text: str, pos: int, stack: list[_Open]) -> tuple[Any, int]:
    """The value at ``pos`` and where it ends.

    A list or object with members is pushed on ``stack`` instead, and ``_OPENED``
    returned with where its first value starts.
    """
    char = text[pos : pos + 1]
    if char == "{":
        pos = _skip(text, pos + 1)
        if text[pos : pos + 1] == "}":
            return {}, pos + 1
        key, pos = _key(text, pos)
        stack.append(_Open({}, key))
        return _OPENED, pos
    if char == "[":
        pos = _skip(text, pos + 1)
        if text[pos : pos + 1] == "]":
            return [], pos + 1
        stack.append(_Open([], None))
        return _OPENED, pos
    return _scalar(text, pos)


def _key(text: str, pos: int) -> tuple[str, int]:
    """An object member's name and its colon; returns where the value starts."""
    if text[pos : pos + 1] != '"':
        raise ValueError(f"Expecting property name enclosed in double quotes at {pos}")
    key, pos = _scanstring(text, pos + 1, True)
    pos = _skip(text, pos)
    if text[pos : pos + 1] != ":":
        raise ValueError(f"Expecting ':' delimiter at {pos}")
    return key, _skip(text, pos + 1)


def _scalar(text: str, pos: int) -> tuple[Any, int]:
    """A string, number or constant at ``pos``, and where it ends."""
    if text[pos : pos + 1] == '"':
        string, end = _scanstring(text, pos + 1, True)
        return string, end
    for word, constant in _CONSTANTS:
        if text.startswith(word, pos):
            return constant, pos + len(word)
    if number := _NUMBER.match(text, pos):
        integer, fraction, exponent = number.groups()
        if fraction or exponent:
            return float(integer + (fraction or "") + (exponent or "")), number.end()
        return int(integer), number.end()
    for word, special in _SPECIAL_FLOATS:
        if text.startswith(word, pos):
            return special, pos + len(word)
    raise ValueError(f"Expecting value at {pos}")


def canonical(text: str, *, pause: Callable[[], None] = lambda: None) -> str:
    """``json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))``.

    Without building the value: the members of every open list and object are
    kept as canonical strings in one flat list, joined into one string when it
    closes (an object's after sorting by name; of a repeated name the last value
    counts, as in ``json.loads``).

    ``pause`` is called every ``PAUSE_EVERY`` values: a worker thread can give the
    interpreter lock away there, rather than wait to be asked.

    Raises:
        ValueError: Not JSON, or an integer longer than Python converts.
    """
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM")
    countdown = PAUSE_EVERY
    pieces: list[str] = []
    """Members of the open lists and objects; an object's as name, text, ..."""
    starts: list[int] = []
    """Where each open list's or object's members start in ``pieces``."""
    objects = bytearray()
    """1 for each open object, 0 for each open list."""
    pos = _skip(text, 0)
    while True:
        countdown -= 1
        if not countdown:
            countdown = PAUSE_EVERY
            pause()
        char = text[pos : pos + 1]
        if char in ("{", "["):
            pos = _skip(text, pos + 1)
            if text[pos : pos + 1] != ("}" if char == "{" else "]"):
                starts.append(len(pieces))
                objects.append(char == "{")
                if char == "{":
                    key, pos = _key(text, pos)
                    pieces.append(key)
                continue
            piece, pos = ("{}" if char == "{" else "[]"), pos + 1
        else:
            piece, pos = _scalar_text(text, pos)
        # A value is complete: add it to its list or object, and close every list
        # and object that ends right after it.
        while starts:
            pieces.append(piece)
            pos = _skip(text, pos)
            char = text[pos : pos + 1]
            if char == ",":
                pos = _skip(text, pos + 1)
                if objects[-1]:
                    key, pos = _key(text, pos)
                    pieces.append(key)
                break
            if char != ("}" if objects[-1] else "]"):
                raise ValueError(f"Expecting ',' delimiter at {pos}")
            start = starts.pop()
            members = pieces[start:]
            del pieces[start:]
            piece, pos = _joined(members, is_object=objects.pop() == 1), pos + 1
        else:
            return _whole(text, pos, piece)


def _whole(text: str, pos: int, value: str) -> str:
    """``value``, when nothing but whitespace follows it at ``pos``."""
    pos = _skip(text, pos)
    if pos != len(text):
        raise ValueError(f"Extra data at {pos}")
    return value


def _joined(members: list[str], *, is_object: bool) -> str:
    """A closed list's or object's canonical text from its members' texts."""
    if not is_object:
        return "[" + ",".join(members) + "]"
    named = dict(zip(members[0::2], members[1::2], strict=True))
    return (
        "{"
        + ",".join(
            encode_basestring_ascii(name) + ":" + value
            for name, value in sorted(named.items())
        )
        + "}"
    )


def _scalar_text(text: str, pos: int) -> tuple[str, int]:
    """The canonical text of the string, number or constant at ``pos``; its end."""
    if text[pos : pos + 1] == '"':
        string, end = _scanstring(text, pos + 1, True)
        return encode_basestring_ascii(string), end
    value, end = _scalar(text, pos)
    if isinstance(value, float):
        return _float(value), end
    if value is None or isinstance(value, bool):
        return text[pos:end], end
    return int.__repr__(value), end


def _float(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return float.__repr__(number)
