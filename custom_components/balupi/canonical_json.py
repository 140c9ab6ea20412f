"""JSON read and written exactly like Python's ``json`` module, without recursion.

Plain Python, no Home Assistant. BaluHost signs the hash of
``json.dumps(body, sort_keys=True, separators=(",", ":"))``, so a push's body must be
parsed and written again in that canonical form before its signature can be checked.
``json.loads`` and ``json.dumps`` do that in C, in one call each: fast, but a call
holds the interpreter lock for as long as it runs (about 40 ms per MiB of small
numbers on a slow core), so a worker thread running them stalls Home Assistant's event
loop just the same; and nesting a few thousand levels deep raises ``RecursionError``.

:func:`loads` and :func:`canonical_pieces` do the same work in a loop of Python
statements with an explicit stack: a worker thread running them hands the interpreter
lock back every few milliseconds, and any depth a body of up to 1 MiB can hold is
fine. They accept exactly what ``json.loads`` accepts (``NaN`` and ``Infinity``
included, strings checked strictly) and produce the same values and the same text;
``tests/test_canonical_json.py`` holds them to that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
from json.encoder import encode_basestring_ascii
import math
import re
from typing import Any

_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
"""The C scanner's string reader (``json`` parses every string with it)."""
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


def canonical_pieces(value: Any) -> Iterator[str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))``, in pieces.

    For what :func:`loads` returns (dicts with string keys, lists, strings, numbers,
    booleans, None); the pieces are ASCII.

    Raises:
        TypeError: A value JSON has no form for.
    """
    stack: list[_Writing] = []
    item = value
    while True:
        if isinstance(item, dict) and item:
            yield "{"
            stack.append(_Writing(iter(sorted(item.items())), "}", is_object=True))
        elif isinstance(item, list | tuple) and item:
            yield "["
            stack.append(_Writing(iter(item), "]", is_object=False))
        else:
            yield _text(item)
        # The next thing to write: the next member of the innermost open list or
        # object, after closing every one that has none left.
        while stack:
            writing = stack[-1]
            member: Any = next(writing.members, _END)
            if member is _END:
                stack.pop()
                yield writing.end
                continue
            if writing.started:
                yield ","
            writing.started = True
            if writing.is_object:
                key, member = member
                yield encode_basestring_ascii(key) + ":"
            item = member
            break
        else:
            return


_END = object()


class _Writing:
    """A list or an object whose members are still being written."""

    __slots__ = ("end", "is_object", "members", "started")

    def __init__(self, members: Iterator[Any], end: str, *, is_object: bool) -> None:
        self.members = members
        """What is left: values, or (name, value) pairs of an object."""
        self.end = end
        self.is_object = is_object
        self.started = False
        """Whether a member was written (the next one needs a comma)."""


def _text(item: Any) -> str:
    """A scalar, an empty list or an empty object, as ``json.dumps`` writes it."""
    if isinstance(item, str):
        return encode_basestring_ascii(item)
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return int.__repr__(item)
    if isinstance(item, float):
        return _float(item)
    if isinstance(item, dict | list | tuple):
        return "{}" if isinstance(item, dict) else "[]"
    raise TypeError(f"{type(item).__name__} is not JSON")


def _float(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return float.__repr__(number)
