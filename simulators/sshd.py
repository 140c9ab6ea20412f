"""A real OpenSSH ``sshd`` on loopback: the NAS end of the inbox flush.

The inbox transfer speaks SSH, SFTP and rsync, so its peer is not simulated but the
real thing: this module starts the machine's ``sshd`` binary on ``127.0.0.1`` and a
free port, as the current user, with everything it needs in one private directory
(a fresh ed25519 host key, ``authorized_keys``, its configuration and pid file).
Password and keyboard-interactive logins are off; only the keys added with
:meth:`SshServer.authorize` get in. SFTP is served by ``internal-sftp`` (no
``sftp-server`` path to find); a remote ``rsync`` is the machine's own.

Failures it can stage, for tests and the benchmark:

* a cut connection: :meth:`SshServer.cut_connections` kills, with SIGKILL, every
  process below the listening ``sshd`` (each connection's session processes and the
  remote ``rsync``/SFTP server they run), so the client sees its TCP connection die
  mid-transfer and the remote side gets no chance to clean up;
* a full disk: ``file_size_limit`` starts ``sshd`` with ``RLIMIT_FSIZE`` set (and
  ``SIGXFSZ`` ignored), so every process it starts fails to write a file past that
  many bytes with ``EFBIG`` ("File too large"). That is what a full disk looks like
  to a writer (a failed ``write()`` after some bytes went through), without
  root-only mounts, and it leaves the rest of the machine alone;
* a service that is down: :meth:`SshServer.stop` (the port then refuses).

When run as root (as in CI), ``sshd`` insists on its privilege-separation directory
(``/run/sshd`` on Debian); it is created if missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
import pwd
import resource
import shutil
import signal
import subprocess
import time

from .server import free_port

SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
START_TIMEOUT = 10.0
"""Seconds ``sshd`` may take to answer on its port."""
PRIVSEP_DIR = Path("/run/sshd")


class SshServerError(Exception):
    """``sshd`` could not be started; ``str()`` says why."""


def sshd_available() -> bool:
    """Whether ``sshd`` and ``ssh-keygen`` are installed."""
    try:
        _find("sshd", SBIN_PATH)
        _find("ssh-keygen")
    except SshServerError:
        return False
    return True


def _find(program: str, extra_path: str = "") -> str:
    path = os.pathsep.join(filter(None, [os.environ.get("PATH", ""), extra_path]))
    found = shutil.which(program, path=path)
    if found is None:
        raise SshServerError(f"{program} not found (install openssh-server)")
    return found


def _limit_file_size(limit: int) -> None:
    """In sshd's process before exec: the file size limit of a 'full disk'."""
    # Ignored, SIGXFSZ turns a write past the limit into EFBIG instead of death;
    # an ignored signal stays ignored across fork and exec.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _children(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc, deepest last."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    wanted = [pid]
    while wanted:
        parent = wanted.pop()
        below = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(below)
        wanted.extend(below)
    return found


class SshServer:
    """One ``sshd`` on 127.0.0.1 serving the current user from ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        file_size_limit: int | None = None,
        sftp: bool = True,
    ) -> None:
        """Keep everything in ``directory`` (created if needed); nothing runs yet.

        Args:
            directory: A private directory for the host key, config and log.
            file_size_limit: When set, no process of this server may write a file
                larger than this many bytes: the stand-in for a full disk.
            sftp: Whether to offer the SFTP subsystem.
        """
        self.directory = directory
        self.host = "127.0.0.1"
        self.port = 0
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.file_size_limit = file_size_limit
        self.sftp = sftp
        self.host_key_file = directory / "ssh_host_ed25519_key"
        self.authorized_keys = directory / "authorized_keys"
        self.config_file = directory / "sshd_config"
        self.log_file = directory / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> str:
        """The host public key, ``"ssh-ed25519 AAAA..."`` (no comment)."""
        kind, key = self.host_key_file.with_suffix(".pub").read_text().split()[:2]
        return f"{kind} {key}"

    @property
    def log(self) -> str:
        """What ``sshd`` logged so far (``-e``: its stderr)."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def authorize(self, public_key: str) -> None:
        """Let the holder of ``public_key`` (an OpenSSH public key line) log in."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.authorized_keys.open("a") as keys:
            keys.write(public_key.strip() + "\n")

    async def start(self) -> None:
        """Start ``sshd`` and return once it greets on its port."""
        if self._process is not None:
            return
        self._launch()
        try:
            await self._wait_for_greeting()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop ``sshd`` and every connection it serves; the port then refuses."""
        process, self._process = self._process, None
        if process is None:
            return
        below = _children(process.pid)
        process.terminate()
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def connections(self) -> list[int]:
        """Process ids serving connections right now (every process below sshd)."""
        return _children(self._process.pid) if self._process is not None else []

    def pause(self) -> None:
        """Freeze (SIGSTOP) every connection's processes: a NAS that stops answering."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let frozen connections go on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        for pid in self.connections():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def cut_connections(self) -> int:
        """Kill (SIGKILL) every connection's processes; return how many were killed.

        The listener keeps running: new connections are accepted as before.
        """
        killed = 0
        for pid in self.connections():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed

    def _launch(self) -> None:
        """Host key, config and the ``sshd`` process (blocking, a few ms)."""
        sshd = _find("sshd", SBIN_PATH)
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.host_key_file.exists():
            subprocess.run(  # noqa: S603 -- fixed arguments, no shell
                [
                    _find("ssh-keygen"),
                    *("-q", "-t", "ed25519", "-N", "", "-C", ""),
                    *("-f", str(self.host_key_file)),
                ],
                check=True,
                capture_output=True,
            )
        self.authorized_keys.touch(mode=0o600)
        if os.geteuid() == 0:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        self._write_config(sshd)
        limit = self.file_size_limit
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 -- fixed arguments
                [sshd, "-D", "-e", "-f", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=None if limit is None else lambda: _limit_file_size(limit),  # noqa: PLW1509 -- two async-signal-safe calls
            )

    def _write_config(self, sshd: str) -> None:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key_file}",
            f"PidFile {self.directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"AllowUsers {self.user}",
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            *(["Subsystem sftp internal-sftp"] if self.sftp else []),
            "LogLevel VERBOSE",
            # OpenSSH 9.8+ shuts out a source address after failed logins or killed
            # sessions; the tests stage exactly those, all from 127.0.0.1.
            "PerSourcePenalties no",
        ]
        self.config_file.write_text("\n".join(lines) + "\n")
        check = subprocess.run(  # noqa: S603 -- fixed arguments
            [sshd, "-t", "-f", str(self.config_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0 and "PerSourcePenalties" in check.stderr:
            lines.pop()  # an OpenSSH older than 9.8: it has no penalties to turn off
            self.config_file.write_text("\n".join(lines) + "\n")
            check = subprocess.run(  # noqa: S603 -- fixed arguments
                [sshd, "-t", "-f", str(self.config_file)],
                capture_output=True,
                text=True,
                check=False,
            )
        if check.returncode != 0:
            raise SshServerError(f"sshd refuses its config: {check.stderr.strip()}")

    async def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process is None or self._process.poll() is not None:
                raise SshServerError(f"sshd exited: {self.log.strip()[-500:]}")
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise SshServerError("sshd does not listen") from None
                await asyncio.sleep(0.02)
                continue
            try:
                banner = await asyncio.wait_for(reader.readline(), START_TIMEOUT)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            if not banner.startswith(b"SSH-2.0-"):
                raise SshServerError(f"not sshd on port {self.port}: {banner!r}")
            return
