"""When BaluPi may send the NAS a health request: every row of the rule (plain module)."""

from __future__ import annotations

from pathlib import Path
import re

import pytest

from custom_components.balupi import asking
from custom_components.balupi.asking import Decision, Why, may_ask
from custom_components.balupi.energy import NasPower
from custom_components.balupi.nas_state import NasState

ON, STANDBY, OFF = NasPower.ACTIVE, NasPower.STANDBY, NasPower.OFF
S = NasState
FRESH = 1.0
"""Seconds a plug reading counts as taken just now (the coordinator's value)."""


@pytest.mark.parametrize(
    ("state", "spare", "nas_plug", "power", "age", "why"),
    [
        # 1. Shutting down: it said so; nothing to ask, whatever else holds.
        (S.SHUTTING_DOWN, True, True, ON, 0.0, Why.SHUTTING_DOWN),
        (S.SHUTTING_DOWN, False, False, None, None, Why.SHUTTING_DOWN),
        # 2. The user turned "Leave a sleeping NAS alone" off: always asked.
        (S.ONLINE, False, True, STANDBY, 0.0, Why.ALWAYS_ASK),
        (S.OFFLINE, False, True, None, None, Why.ALWAYS_ASK),
        # 3. No NAS plug: nothing else can tell, so the NAS is asked.
        (S.ONLINE, True, False, None, None, Why.NO_NAS_PLUG),
        (S.UNKNOWN, True, False, None, None, Why.NO_NAS_PLUG),
        # 4. Booting after Wake-on-LAN: asked (fast), whatever the plug says.
        (S.BOOTING, True, True, STANDBY, 0.0, Why.BOOTING),
        (S.BOOTING, True, True, None, None, Why.BOOTING),
        # 5. A reading taken just now says full power: awake, asked.
        (S.ONLINE, True, True, ON, 0.0, Why.PLUG_ACTIVE),
        (S.OFFLINE, True, True, ON, 0.4, Why.PLUG_ACTIVE),
        (S.UNKNOWN, True, True, ON, 0.0, Why.PLUG_ACTIVE),
        # 6. A reading taken just now says standby or no power: not asked.
        (S.ONLINE, True, True, STANDBY, 0.0, Why.PLUG_STANDBY),
        (S.OFFLINE, True, True, STANDBY, 0.9, Why.PLUG_STANDBY),
        (S.UNKNOWN, True, True, STANDBY, 0.0, Why.PLUG_STANDBY),
        (S.ONLINE, True, True, OFF, 0.0, Why.PLUG_OFF),
        # 7. No reading from just now: the plug is away, or the reading is older
        # (the NAS may have fallen asleep since). Not asked, whatever it said.
        (S.ONLINE, True, True, None, None, Why.PLUG_UNREADABLE),
        (S.OFFLINE, True, True, None, None, Why.PLUG_UNREADABLE),
        (S.UNKNOWN, True, True, None, None, Why.PLUG_UNREADABLE),
        (S.ONLINE, True, True, ON, FRESH, Why.PLUG_UNREADABLE),
        (S.ONLINE, True, True, ON, 29.0, Why.PLUG_UNREADABLE),
        (S.ONLINE, True, True, ON, None, Why.PLUG_UNREADABLE),
        (S.ONLINE, True, True, ON, -5.0, Why.PLUG_UNREADABLE),  # clock went back
    ],
)
def test_when_the_nas_is_asked(
    state: NasState,
    spare: bool,
    nas_plug: bool,
    power: NasPower | None,
    age: float | None,
    why: Why,
) -> None:
    decision = may_ask(
        state,
        spare_sleeping_nas=spare,
        nas_plug=nas_plug,
        power=power,
        power_age=age,
        fresh_within=FRESH,
    )
    assert decision == Decision(why)


@pytest.mark.parametrize(
    ("why", "ask", "blind"),
    [
        (Why.ALWAYS_ASK, True, False),
        (Why.NO_NAS_PLUG, True, False),
        (Why.BOOTING, True, False),
        (Why.SHUTTING_DOWN, False, False),
        (Why.PLUG_ACTIVE, True, False),
        (Why.PLUG_STANDBY, False, False),
        (Why.PLUG_OFF, False, False),
        (Why.PLUG_UNREADABLE, False, True),
    ],
)
def test_each_row_says_whether_to_ask_and_why(why: Why, ask: bool, blind: bool) -> None:
    decision = Decision(why)
    assert decision.ask is ask
    assert decision.blind is blind
    # The log says what happened: "not asked" only when nothing was asked.
    assert decision.words.startswith("asked" if ask else "not asked")


def test_a_standby_reading_says_the_request_would_wake_the_nas() -> None:
    assert "would wake it" in Decision(Why.PLUG_STANDBY).words
    assert "cannot tell" in Decision(Why.PLUG_UNREADABLE).words


def test_the_readme_table_is_the_code() -> None:
    """The README's table of when BaluPi asks the NAS lists the module's rows."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### When BaluPi asks the NAS", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d) \| .+ \| (yes|no) \|", section, re.MULTILINE)
    doc = asking.__doc__ or ""
    code_rows = re.findall(r"^\| (\d) \| .+ \| (yes|no)\s*\|", doc, re.MULTILINE)
    assert rows == code_rows
    assert [ask for _, ask in rows] == [
        "no", "yes", "yes", "yes", "yes", "no", "no",
    ]  # fmt: skip
