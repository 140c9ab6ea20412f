"""scripts/system_packages: on a machine without sshd and rsync, before any test runs.

The scripts run for real, with a PATH of stand-ins: ``id`` says who runs them, ``sudo``
lets them in or asks for a password, ``apt-get`` records what it was asked and "installs"
by putting programs into the folder the check searches (BALUPI_SYSTEM_PATH). Nothing is
installed on this machine and nothing leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import subprocess

import pytest

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "scripts" / "system_packages"
BASH = shutil.which("bash") or "/bin/bash"

FAKE_APT_GET = """#!{bash}
echo "$*" >> "{log}"
[ "$1" = update ] && exit 0
[ -n "$APT_FAILS" ] && {{ echo "E: Unable to locate package" >&2; exit 100; }}
for package in "$@"; do
  case "$package" in
    openssh-server) programs="sshd" ;;
    openssh-client) programs="ssh ssh-keygen" ;;
    rsync) programs="rsync" ;;
    *) programs="" ;;
  esac
  for program in $programs; do
    printf '#!/bin/sh\\n' > "{system}/$program"
    {chmod} +x "{system}/$program"
  done
done
"""
SUDO_WITHOUT_PASSWORD = """#!{bash}
[ "$1" = -n ] && shift
echo "sudo $*" >> "{log}"
exec "$@"
"""
SUDO_WITH_PASSWORD = """#!{bash}
echo "sudo: a password is required" >&2
exit 1
"""


@dataclass
class Machine:
    """A PATH of stand-ins and the folder where the system's programs are looked for."""

    tools: Path
    system: Path
    log: Path

    def tool(self, name: str, script: str) -> None:
        path = self.tools / name
        path.write_text(
            script.format(
                bash=BASH,
                log=self.log,
                system=self.system,
                chmod=shutil.which("chmod"),
            )
        )
        path.chmod(0o755)

    def link(self, *names: str) -> None:
        """Real programs the scripts use (not sshd, ssh or rsync)."""
        for name in names:
            found = shutil.which(name)
            assert found is not None
            (self.tools / name).symlink_to(found)

    def has(self, *programs: str) -> None:
        for program in programs:
            path = self.system / program
            path.write_text("#!/bin/sh\n")
            path.chmod(0o755)

    def user(self, uid: int) -> None:
        self.tool("id", f"#!{{bash}}\necho {uid}\n")

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (this repository's scripts)
            [BASH, *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={
                "PATH": str(self.tools),
                "HOME": str(self.tools.parent),
                "BALUPI_SYSTEM_PATH": str(self.system),
                **(env or {}),
            },
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A user (uid 1000) with neither sshd nor rsync, but with the ssh client."""
    made = Machine(tmp_path / "bin", tmp_path / "system", tmp_path / "apt.log")
    made.tools.mkdir()
    made.system.mkdir()
    made.link("env")
    made.tool("apt-get", FAKE_APT_GET)
    made.user(1000)
    made.has("ssh", "ssh-keygen")
    return made


ONE_LINE = (
    "scripts/setup: the tests need the system packages openssh-server rsync; "
    "install them with: sudo apt-get install -y openssh-server rsync\n"
)


def test_check_finds_what_is_missing(machine: Machine) -> None:
    assert machine.run(str(SCRIPT), "check").returncode == 1
    machine.has("sshd", "rsync")
    assert machine.run(str(SCRIPT), "check").returncode == 0


@pytest.mark.parametrize(
    "sudo", [None, SUDO_WITH_PASSWORD], ids=["no-sudo", "password"]
)
def test_a_user_who_may_not_install_gets_one_line(
    machine: Machine, sudo: str | None
) -> None:
    if sudo is not None:
        machine.tool("sudo", sudo)
    result = machine.run(str(SCRIPT), "install")
    assert result.returncode == 1
    assert result.stderr == ONE_LINE
    assert result.stdout == ""
    assert machine.calls() == [], "apt-get is not even tried"


def test_root_installs_what_is_missing(machine: Machine) -> None:
    machine.user(0)
    result = machine.run(str(SCRIPT), "install")
    assert result.returncode == 0, result.stderr
    assert machine.calls() == [
        "update -qq",
        "install -y -qq openssh-server rsync",
    ]
    assert machine.run(str(SCRIPT), "check").returncode == 0


def test_passwordless_sudo_installs_what_is_missing(machine: Machine) -> None:
    machine.tool("sudo", SUDO_WITHOUT_PASSWORD)
    machine.link("true")
    result = machine.run(str(SCRIPT), "install")
    assert result.returncode == 0, result.stderr
    assert machine.calls() == [
        "sudo true",
        "sudo apt-get update -qq",
        "update -qq",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "openssh-server rsync",
        "install -y -qq openssh-server rsync",
    ]
    assert machine.run(str(SCRIPT), "check").returncode == 0


def test_a_failed_install_gets_the_line_too(machine: Machine) -> None:
    machine.user(0)
    result = machine.run(str(SCRIPT), "install", env={"APT_FAILS": "1"})
    assert result.returncode == 1
    assert result.stderr.endswith(ONE_LINE)
    assert machine.run(str(SCRIPT), "check").returncode == 1


def test_nothing_to_do_when_everything_is_there(machine: Machine) -> None:
    machine.has("sshd", "rsync")
    result = machine.run(str(SCRIPT), "install")
    assert result.returncode == 0
    assert (result.stdout, result.stderr) == ("", "")
    assert machine.calls() == []


def test_scripts_test_stops_before_any_test(machine: Machine) -> None:
    """The README's command on a fresh machine, as a user who may not install: one
    line, a failure, and pytest never started (no coverage gate to fail)."""
    machine.link("bash", "dirname", "basename", "cat", "cut", "sha256sum")
    result = machine.run(str(ROOT / "scripts" / "test"))
    assert result.returncode == 1
    assert result.stderr == ONE_LINE
    assert "scripts/test: Home Assistant" not in result.stdout
    assert machine.calls() == []


def test_the_check_runs_on_every_scripts_test() -> None:
    """Not only when the environment is set up first: scripts/test checks first."""
    script = (ROOT / "scripts" / "test").read_text()
    check = script.index('scripts/system_packages" check')
    assert check < script.index("-m pytest")
    assert "env_ready || " not in script.replace(
        'system_packages" check && env_ready || ', ""
    )


def test_ci_and_the_environment_do_not_hide_a_missing_step() -> None:
    """.ci/run leaves these packages to scripts/setup, so a fresh CI machine proves it."""
    ci = (ROOT / ".ci" / "run").read_text()
    for package in ("openssh-server", "openssh-client", "rsync"):
        assert f" {package}" not in ci.split("APT_PACKAGES=(", 1)[1].split(")", 1)[0]
    assert os.access(SCRIPT, os.X_OK)
