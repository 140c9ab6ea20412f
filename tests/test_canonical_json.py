"""The pure-Python JSON reader and canonical writer agree with Python's ``json``.

BaluPi parses large push bodies with ``canonical_json`` (in a worker thread that hands
the interpreter lock back) and small ones with ``json`` (C): both must accept the same
texts, read the same values and hash the same canonical text, or a push would be
accepted or refused depending on its size.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.balupi.canonical_json import canonical, loads, loads_bytes

EXAMPLES = 1000

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**300), 10**300)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)
layouts = st.sampled_from(
    [
        {},
        {"separators": (",", ":")},
        {"indent": 2},
        {"indent": "\t", "separators": (" ,", " : ")},
        {"ensure_ascii": False},
    ]
)


def reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(value=values, layout=layouts)
def test_what_json_writes_reads_back_the_same(
    value: Any, layout: dict[str, Any]
) -> None:
    text = json.dumps(value, **layout)
    assert canonical(text) == reference(json.loads(text)) == reference(value)
    assert reference(loads(text)) == reference(value)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(value=values, encoding=st.sampled_from(["utf-8", "utf-16", "utf-32-le"]))
def test_bytes_in_every_encoding_json_detects(value: Any, encoding: str) -> None:
    raw = json.dumps(value).encode(encoding)
    assert reference(loads_bytes(raw)) == reference(json.loads(raw))


# Texts made of JSON's own pieces, mostly wrong.
fragments = st.lists(
    st.sampled_from(
        [
            "{", "}", "[", "]", ",", ":", " ", "\n", '"', '"a"', '"\\u00e9"', '"\\ud800"',
            '"\\x"', "\x01", "0", "-0", "01", "1.5", "1e5", "1.", ".5", "-", "1e999",
            "true", "tru", "false", "null", "NaN", "Infinity", "-Infinity", "\ufeff", "é",
        ]
    ),
    max_size=12,
).map("".join)  # fmt: skip


def _outcome(parse: Any, text: Any) -> str:
    try:
        return reference(parse(text))
    except ValueError:
        return "refused"


def _canonical_outcome(text: str) -> str:
    try:
        return canonical(text)
    except ValueError:
        return "refused"


@settings(max_examples=EXAMPLES * 3, deadline=None, derandomize=True)
@given(text=fragments | st.text(max_size=30))
def test_any_text_is_accepted_or_refused_as_json_does(text: str) -> None:
    expected = _outcome(json.loads, text)
    assert _outcome(loads, text) == expected
    assert _canonical_outcome(text) == expected


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(raw=st.binary(max_size=40))
def test_any_bytes_are_accepted_or_refused_as_json_does(raw: bytes) -> None:
    assert _outcome(loads_bytes, raw) == _outcome(json.loads, raw)


def test_a_duplicate_name_keeps_the_last_value_at_the_first_place() -> None:
    text = '{"b": 1, "a": 2, "b": [3]}'
    assert list(loads(text).items()) == list(json.loads(text).items())
    assert canonical(text) == '{"a":2,"b":[3]}'


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_depth_is_no_limit(depth: int) -> None:
    """Deeper than the C parser's recursion allows, for as long as the text is."""
    text = '{"a":' * depth + "[]" + "}" * depth
    assert canonical(text) == text
    value, levels = loads(text), 0
    while value:
        value, levels = value["a"], levels + 1
    assert levels == depth


@pytest.mark.parametrize("parse", [loads, canonical])
def test_more_digits_than_python_converts_are_refused(parse: Any) -> None:
    with pytest.raises(ValueError, match="digits"):
        parse("9" * 5000)
