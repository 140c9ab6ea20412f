"""When BaluPi searches for plugs that stopped answering, and which of them moved (plain)."""

from __future__ import annotations

from custom_components.balupi.plugs import PlugAddress
from custom_components.balupi.rediscovery import SearchSchedule, moved

KLAP = {"device_family": "SMART.TAPOPLUG", "encryption_type": "KLAP"}
A = "48:22:54:00:00:01"
B = "48:22:54:00:00:02"


def at(host: str, port: int = 80) -> PlugAddress:
    return PlugAddress(host=host, connection={**KLAP, "http_port": port})


def test_no_search_for_a_plug_that_was_away_only_briefly() -> None:
    schedule = SearchSchedule(after=120, every=900)
    assert not schedule.failed(A, 0)
    assert not schedule.failed(A, 90)
    schedule.answered(A)
    # Away again: the wait starts afresh.
    assert not schedule.failed(A, 200)
    assert not schedule.failed(A, 290)
    assert schedule.failed(A, 320)


def test_searches_are_bounded_while_a_plug_stays_away() -> None:
    """Polled every 30 s for two hours: one search after 2 minutes, then every 15."""
    schedule = SearchSchedule(after=120, every=900)
    searches = [now for now in range(0, 7200, 30) if schedule.failed(A, now)]
    assert searches == [120, 1020, 1920, 2820, 3720, 4620, 5520, 6420]
    assert schedule.missing == {A}


def test_one_search_serves_every_missing_plug() -> None:
    schedule = SearchSchedule(after=120, every=900)
    assert not schedule.failed(A, 0)
    assert not schedule.failed(B, 60)
    assert schedule.failed(A, 120)
    assert not schedule.failed(B, 180), "the search at 120 s looked for B too"
    assert schedule.missing == {A, B}
    schedule.answered(A)
    assert schedule.missing == {B}


def test_a_clock_that_steps_back_only_restarts_the_waits() -> None:
    schedule = SearchSchedule(after=120, every=900)
    assert schedule.failed(A, 10_000) is False
    assert schedule.failed(A, 10_120) is True
    # NTP set the clock back an hour: no search is held back for an hour.
    assert schedule.failed(A, 6_520) is False
    assert schedule.failed(A, 6_640) is True


def test_moved_names_the_missing_plugs_found_elsewhere() -> None:
    known = {A: at("192.0.2.10"), B: at("192.0.2.11")}
    found = {
        A: at("192.0.2.20"),  # missing, and elsewhere now: moved
        B: at("192.0.2.11"),  # where it was: not moved
        "48:22:54:00:00:09": at("192.0.2.30"),  # not one of ours
    }
    assert moved(known, found, frozenset({A, B})) == {A: at("192.0.2.20")}
    # A plug that answers its polls is never moved by a search.
    assert moved(known, found, frozenset({B})) == {}


def test_moved_sees_a_new_port_as_a_move() -> None:
    known = {A: at("192.0.2.10", 80)}
    assert moved(known, {A: at("192.0.2.10", 8080)}, frozenset({A})) == {
        A: at("192.0.2.10", 8080)
    }
    # A port given by hand (port forwarding) is where the plug is, too.
    forwarded = PlugAddress(host="192.0.2.10", connection=KLAP, port=8080)
    assert moved({A: forwarded}, {A: at("192.0.2.10", 8080)}, frozenset({A})) == {}
