"""Normal forms and rejections of what users type (plain module, no Home Assistant)."""

from __future__ import annotations

import pytest

from custom_components.balupi.validation import (
    check_secret,
    generate_secret,
    ip_of_url,
    normalize_base_url,
    normalize_ip,
    normalize_mac,
    parse_plug_host,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("http://192.168.178.53:8000", "http://192.168.178.53:8000"),
        ("  http://192.168.178.53:8000/  ", "http://192.168.178.53:8000"),
        ("HTTP://NAS.fritz.box", "http://nas.fritz.box"),
        ("https://baluhost.local:8443/", "https://baluhost.local:8443"),
        ("http://[fd00::53]:8000", "http://[fd00::53]:8000"),
        ("http://192.168.178.53:80", "http://192.168.178.53:80"),
    ],
)
def test_base_url_normal_form(typed: str, stored: str) -> None:
    assert normalize_base_url(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "192.168.178.53:8000",
        "ftp://192.168.178.53",
        "http://",
        "http://192.168.178.53:8000/api",
        "http://192.168.178.53:8000/?x=1",
        "http://192.168.178.53:8000/#top",
        "http://admin:pw@192.168.178.53:8000",
        "http://192.168.178.53:70000",
        "http://[fd00::53",
    ],
)
def test_base_url_rejected(typed: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        normalize_base_url(typed)


def test_ip_normal_form_and_rejections() -> None:
    assert normalize_ip(" 192.168.178.20 ") == "192.168.178.20"
    assert normalize_ip("FD00:0:0::20") == "fd00::20"
    for bad in ("", "192.168.178", "192.168.178.256", "raspberrypi", "1.2.3.4/24"):
        with pytest.raises(ValueError):  # noqa: PT011
            normalize_ip(bad)


def test_ip_of_url() -> None:
    assert ip_of_url("http://192.168.178.53:8000") == "192.168.178.53"
    assert ip_of_url("http://[fd00::53]:8000") == "fd00::53"
    assert ip_of_url("http://nas.fritz.box:8000") is None


@pytest.mark.parametrize(
    "typed",
    [
        "aa:bb:cc:00:11:22",
        "AA:BB:CC:00:11:22",
        "aa-bb-cc-00-11-22",
        "aabb.cc00.1122",
        "AABBCC001122",
        " aa:bb:cc:00:11:22\n",
    ],
)
def test_mac_notations(typed: str) -> None:
    assert normalize_mac(typed) == "aa:bb:cc:00:11:22"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "aa:bb:cc:00:11",
        "aa:bb:cc:00:11:22:33",
        "aa:bb-cc:00:11:22",  # mixed separators
        "gg:bb:cc:00:11:22",
        "ff:ff:ff:ff:ff:ff",  # broadcast
        "01:00:5e:00:00:01",  # multicast
        "00:00:00:00:00:00",
    ],
)
def test_mac_rejected(typed: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        normalize_mac(typed)


def test_secret_rules() -> None:
    assert check_secret("  " + "a" * 32 + "\n") == "a" * 32
    with pytest.raises(ValueError, match="32"):
        check_secret("a" * 31)
    with pytest.raises(ValueError, match="32"):
        check_secret(" " * 40)


def test_generated_secrets_are_long_url_safe_and_new() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 48
        assert check_secret(secret) == secret
        assert set(secret) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_plug_host_with_and_without_port() -> None:
    assert parse_plug_host(" 192.168.178.40 ") == ("192.168.178.40", None)
    assert parse_plug_host("192.168.178.40:8080") == ("192.168.178.40", 8080)
    assert parse_plug_host("fd00::40") == ("fd00::40", None)
    assert parse_plug_host("[fd00::40]:8080") == ("fd00::40", 8080)
    for bad in (
        "plug.local",
        "192.168.178.40:0",
        "192.168.178.40:x",
        "[fd00::40]:70000",
    ):
        with pytest.raises(ValueError):  # noqa: PT011
            parse_plug_host(bad)
