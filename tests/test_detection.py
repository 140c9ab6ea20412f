"""Dual detection: each row of the heartbeat-and-plug table (plain module)."""

from __future__ import annotations

import pytest

from custom_components.balupi.detection import Cause, Evidence, judge
from custom_components.balupi.energy import NasPower
from custom_components.balupi.nas_state import NasState

ON, STANDBY, OFF = NasPower.ACTIVE, NasPower.STANDBY, NasPower.OFF
S = NasState


@pytest.mark.parametrize(
    ("state", "http_ok", "failures", "power", "expected"),
    [
        # Health endpoint answered: online, whatever the plug says.
        (S.OFFLINE, True, 0, None, S.ONLINE),
        (S.BOOTING, True, 0, STANDBY, S.ONLINE),
        (S.UNKNOWN, True, 0, ON, S.ONLINE),
        # Plug below the off limit: offline at once, one failure is enough.
        (S.ONLINE, False, 1, OFF, S.OFFLINE),
        (S.ONLINE, None, 0, OFF, S.OFFLINE),
        (S.BOOTING, False, 1, OFF, S.OFFLINE),
        # Plug in standby: asleep, so offline, without asking the NAS...
        (S.ONLINE, None, 0, STANDBY, S.OFFLINE),
        (S.ONLINE, False, 1, STANDBY, S.OFFLINE),
        # ...but not while it boots.
        (S.BOOTING, False, 5, STANDBY, None),
        # Fewer failures than the threshold: nothing yet.
        (S.ONLINE, False, 2, None, None),
        (S.ONLINE, False, 2, ON, None),
        # Threshold reached, plug at full power: service down, hardware on.
        (S.ONLINE, False, 3, ON, None),
        # Threshold reached, no plug to ask: offline.
        (S.ONLINE, False, 3, None, S.OFFLINE),
        (S.UNKNOWN, False, 3, None, S.OFFLINE),
        # Booting without a plug: the boot timeout decides.
        (S.BOOTING, False, 9, None, None),
        # Shutting down (it said goodbye): only no power ends it here...
        (S.SHUTTING_DOWN, None, 0, OFF, S.OFFLINE),
        # ...not standby power on the way down, nor missed heartbeats.
        (S.SHUTTING_DOWN, None, 0, STANDBY, None),
        (S.SHUTTING_DOWN, False, 5, None, None),
        (S.SHUTTING_DOWN, None, 0, ON, None),
        # A restart that answers: online.
        (S.SHUTTING_DOWN, True, 0, ON, S.ONLINE),
    ],
)
def test_dual_detection_table(
    state: NasState,
    http_ok: bool | None,
    failures: int,
    power: NasPower | None,
    expected: NasState | None,
) -> None:
    verdict = judge(state, Evidence(http_ok, failures, power), failure_threshold=3)
    assert verdict.state is expected
    assert verdict.reason
    # A change always comes with its code; staying put has none.
    assert (verdict.cause is None) is (expected is None)


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (Evidence(True, 0, OFF), Cause.HEALTH_ANSWERED),
        (Evidence(False, 1, OFF), Cause.NO_POWER),
        (Evidence(None, 0, STANDBY), Cause.ASLEEP),
        (Evidence(False, 3, None), Cause.NO_ANSWER),
    ],
)
def test_causes_for_automations(evidence: Evidence, cause: Cause) -> None:
    assert judge(S.ONLINE, evidence, failure_threshold=3).cause is cause


def test_a_nas_that_said_goodbye_goes_offline_with_its_goodbye() -> None:
    """Powered off after the shutdown push: the cause stays the push's."""
    verdict = judge(S.SHUTTING_DOWN, Evidence(None, 0, OFF), failure_threshold=3)
    assert verdict.cause is Cause.SHUTDOWN_PUSH
    assert verdict.reason == "the NAS powered off after shutting down"


def test_reasons_say_why() -> None:
    verdict = judge(S.ONLINE, Evidence(False, 3, ON), failure_threshold=3)
    assert "service is down" in verdict.reason
    verdict = judge(S.ONLINE, Evidence(False, 3, None), failure_threshold=3)
    assert verdict.reason == "no answer from the health endpoint 3 times"
