"""Fail on Home Assistant log records that warn BaluPi of a coming break.

``scripts/develop --check`` runs this on Home Assistant's log once it has walked
BaluPi's flows; ``.ci/run`` does that under the newest Home Assistant release too. A
record fails the check when it speaks of a deprecation ("deprecat"), of something BaluPi
"should use" or of something that "will stop working", or reports a blocking call in the
event loop ("Detected blocking call"), and it names BaluPi or comes
from BaluPi's code (``custom_components/balupi``, the ``custom_components.balupi``
logger, the custom integration 'balupi'). Records of other integrations pass.

    python scripts/check_ha_log.py config/home-assistant.log

Exit status: 0 when no record fails, 1 when one does (each is printed), 2 when the log
cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
import re
import sys

WARNS = re.compile(
    r"deprecat|should use|will stop working|detected blocking call", re.IGNORECASE
)
"""What Home Assistant's deprecation messages say (helpers/frame.py's report_usage,
helpers/deprecation.py, Python's DeprecationWarning through py.warnings), and its
report of blocking I/O in the event loop (util/loop.py), which it also asks authors to
fix."""

NAMES_BALUPI = re.compile(
    r"custom_components[/.\\]balupi\b"  # its code: paths, module and logger names
    r"|(?<![\w/\\.-])balupi(?![\w/\\-])",  # its name ('balupi', balupi.sensor), not a
    re.IGNORECASE,  # folder that happens to be called so
)

RECORD_START = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
"""Home Assistant's log lines begin with a timestamp; other lines (a traceback, a
multi-line message) continue the record above them."""


def records(lines: Iterable[str]) -> Iterator[str]:
    """The log's records, each with its continuation lines."""
    record: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if RECORD_START.match(line) and record:
            yield "\n".join(record)
            record = []
        record.append(line)
    if record:
        yield "\n".join(record)


def failing(lines: Iterable[str]) -> list[str]:
    """The records that warn of a deprecation or break and concern BaluPi."""
    return [
        record
        for record in records(lines)
        if WARNS.search(record) and NAMES_BALUPI.search(record)
    ]


def main(argv: list[str]) -> int:
    """Check the log named on the command line."""
    if len(argv) != 1:
        print("usage: check_ha_log.py HOME_ASSISTANT_LOG", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        print(f"check_ha_log: cannot read {path}: {err}", file=sys.stderr)
        return 2
    found = failing(text.splitlines())
    for record in found:
        print(record, file=sys.stderr)
    if found:
        print(
            f"check_ha_log: {len(found)} deprecation record(s) for BaluPi in {path}",
            file=sys.stderr,
        )
        return 1
    print(f"check_ha_log: no deprecation for BaluPi in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
