"""scripts/check_ha_log.py: which Home Assistant log records fail the newest-release run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
import subprocess
import sys
from types import ModuleType

from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as ha_version
import pytest

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "scripts" / "check_ha_log.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("balupi_check_ha_log", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = load_script()

T = "2026-12-08 01:02:03.456"
FAILING = {
    # Home Assistant 2026.11.0's log when BaluPi's flows still reloaded the entry
    # themselves (as .ci/run's start of the newest release found it).
    "listener": "2026-12-08 01:26:33.127+00:00 WARNING (MainThread) "
    "[homeassistant.helpers.frame] Detected that custom integration 'balupi' has an "
    "update listener and should use it for scheduling a reload. This will stop working "
    "in Home Assistant 2026.12.0, please create a bug report at "
    "https://github.com/Xveyn/balupi-homeassistant/issues",
    # The same helper when it finds the caller's frame: file and line of our code.
    "frame": f"{T} WARNING (MainThread) [homeassistant.helpers.frame] Detected that "
    "custom integration 'balupi' calls async_get_device at "
    "custom_components/balupi/entity.py, line 42: registry.async_get_device(. This "
    "will stop working in Home Assistant 2027.1.0, please report it to the author",
    # A Python DeprecationWarning raised in our module (logging.captureWarnings).
    "warning": f"{T} WARNING (SyncWorker_0) [py.warnings] "
    "/work/custom_components/balupi/plugs.py:88: DeprecationWarning: "
    "Device.modules is deprecated, use Device.features\n  return device.modules",
    # Our own logger saying something is deprecated.
    "logger": f"{T} WARNING (MainThread) [custom_components.balupi] The option "
    "wol_port is deprecated",
    # A deprecated helper that names BaluPi's platform.
    "platform": f"{T} WARNING (MainThread) [homeassistant.helpers.entity] Entity "
    "sensor.nas_power (<class 'custom_components.balupi.sensor.PlugSensor'>) is using "
    "a deprecated unit; it should use UnitOfPower.WATT",
    # Blocking I/O in the event loop, as scripts/develop --check found it in the rsync
    # transport (counting the open descriptors in /proc/self/fd).
    "blocking": f"{T} WARNING (MainThread) [homeassistant.util.loop] Detected blocking "
    "call to scandir with args ('/proc/self/fd',) inside the event loop by custom "
    "integration 'balupi' at custom_components/balupi/inbox_rsync.py, line 230: "
    'in_use = sum(1 for _ in Path("/proc/self/fd").iterdir()) (offender: '
    "/usr/lib/python3.14/pathlib/__init__.py, line 123: with os.scandir(root_dir) as "
    "scandir_it:), please create a bug report at https://github.com/Xveyn/"
    "balupi-homeassistant/issues",
    # Continuation lines belong to the record above them (a traceback).
    "traceback": f"{T} ERROR (MainThread) [homeassistant.config_entries] Error "
    "setting up entry\nTraceback (most recent call last):\n  File "
    '"/work/custom_components/balupi/__init__.py", line 9\nDeprecationWarning: '
    "utcnow() is deprecated",
}
PASSING = {
    # A package HA installs at startup, its build warning under another record.
    "build": f"{T} ERROR (SyncWorker_1) [homeassistant.util.package] Unable to install "
    "package pymicro-vad==1.0.1: error: Failed to build `pymicro-vad==1.0.1`\n"
    "         /root/.cache/uv/builds-v0/.tmpTHPZCu/lib/python3.14/site-packages/"
    "setuptools/dist.py:765: SetuptoolsDeprecationWarning: License classifiers are "
    "deprecated.",
    # Another integration's deprecation.
    "other": f"{T} WARNING (MainThread) [homeassistant.helpers.frame] Detected that "
    "custom integration 'hacs' accesses hass.components. This will stop working in "
    "Home Assistant 2025.3, please report it to the author",
    # BaluPi's ordinary records.
    "ours": f"{T} DEBUG (MainThread) [custom_components.balupi] BaluPi set up for the "
    "NAS at http://127.0.0.1:18000 with 3 plugs, heartbeat every 30 s",
    "custom": f"{T} WARNING (SyncWorker_0) [homeassistant.loader] We found a custom "
    "integration balupi which has not been tested by Home Assistant. This component "
    "might cause stability problems, be sure to disable it if you experience issues",
    # A deprecation whose path only passes through a folder called balupi.
    "folder": f"{T} WARNING (MainThread) [py.warnings] /ci/balupi/.venv/lib/python3.14/"
    "site-packages/josepy/util.py:12: DeprecationWarning: CSR support is deprecated",
    # A deprecation record followed by a BaluPi record: each is judged alone.
    "neighbours": f"{T} WARNING (MainThread) [homeassistant.components.http] "
    "use_x_forwarded_for is deprecated\n"
    f"{T} INFO (MainThread) [custom_components.balupi] NAS unknown → online",
}


@pytest.mark.parametrize("name", FAILING)
def test_a_deprecation_for_balupi_fails(name: str) -> None:
    found = check.failing(FAILING[name].splitlines())
    assert found == [FAILING[name]]


@pytest.mark.parametrize("name", PASSING)
def test_other_records_pass(name: str) -> None:
    assert check.failing(PASSING[name].splitlines()) == []


def test_records_keep_their_continuation_lines() -> None:
    lines = [f"{T} ERROR first", "  continued", f"{T} INFO second"]
    assert list(check.records(lines)) == [
        f"{T} ERROR first\n  continued",
        f"{T} INFO second",
    ]


def run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this repository's script)
        [sys.executable, str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_script_fails_on_a_log_with_one_and_passes_without(tmp_path: Path) -> None:
    log = tmp_path / "home-assistant.log"
    log.write_text("\n".join([*PASSING.values(), FAILING["listener"], ""]))
    result = run(log)
    assert result.returncode == 1
    assert "should use it for scheduling a reload" in result.stderr
    assert "1 deprecation record(s) for BaluPi" in result.stderr

    log.write_text("\n".join([*PASSING.values(), ""]))
    result = run(log)
    assert result.returncode == 0, result.stderr
    assert "no deprecation for BaluPi" in result.stdout


def test_a_missing_log_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path / "absent.log")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_the_release_ci_starts_is_no_older_than_the_harness() -> None:
    """requirements_release.txt pins the newest release; once the test harness pins a
    newer one (the suite under newest-ha runs it), the pin is stale and must be raised."""
    pins = [
        line.split("==", 1)[1].strip()
        for line in (ROOT / "requirements_release.txt").read_text().splitlines()
        if line.startswith("homeassistant==")
    ]
    assert len(pins) == 1
    assert AwesomeVersion(pins[0]) >= AwesomeVersion(ha_version)
