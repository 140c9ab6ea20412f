"""The NAS's SSH for scripts/develop: ``simulators.sshd.SshServer`` until stopped.

Starts the machine's real ``sshd`` on 127.0.0.1 as the current user, with its host
key, config and ``authorized_keys`` in ``--directory`` (the host key is kept between
runs; ``authorized_keys`` starts empty every run). Once ``sshd`` greets, the
``--ready`` file gets a JSON object with ``host``, ``port``, ``user``, ``host_key``,
``directory`` and ``authorized_keys``; scripts/dev_bootstrap.py waits for it and
authorizes BaluPi's public key there (``SshServer.authorize``). When ``sshd`` cannot
start, the file holds ``{"error": ...}`` instead and this exits with status 1.

SIGTERM or SIGINT stops ``sshd`` and every connection it serves, and removes the
ready file. Needs the repository root on ``PYTHONPATH`` (scripts/develop sets it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import signal
import sys

from simulators.sshd import SshServer, SshServerError


def _write_ready(ready: Path, info: dict[str, object]) -> None:
    """Write ``info`` to ``ready`` in one step (readers never see half a file)."""
    partial = ready.with_name(ready.name + ".tmp")
    partial.write_text(json.dumps(info))
    partial.replace(ready)


async def _serve(server: SshServer, ready: Path) -> None:
    """Start ``sshd``, announce it, return when SIGTERM or SIGINT arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    _write_ready(
        ready,
        {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "host_key": server.host_key,
            "directory": str(server.directory),
            "authorized_keys": str(server.authorized_keys),
        },
    )
    print(
        f"sshd (the NAS's SSH) listening on {server.host}:{server.port} for"
        f" {server.user}, files in {server.directory}",
        flush=True,
    )
    await stop.wait()


def main() -> int:
    """Run one ``sshd`` until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args()

    ready: Path = args.ready
    ready.unlink(missing_ok=True)
    server = SshServer(args.directory.resolve())
    server.port = args.port
    server.directory.mkdir(parents=True, exist_ok=True)
    # BaluPi's key is authorized again by every bootstrap: no stale keys pile up.
    server.authorized_keys.write_text("")
    server.authorized_keys.chmod(0o600)
    try:
        asyncio.run(_serve(server, ready))
    except SshServerError as err:
        _write_ready(ready, {"error": str(err)})
        print(f"scripts/dev_sshd: {err}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    ready.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
