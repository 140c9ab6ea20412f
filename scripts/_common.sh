# Shared by the scripts in this folder: find the project's Python environment.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# What the environment is built from: requirements_test.txt (the test harness and the
# Home Assistant it pins), or the file BALUPI_REQUIREMENTS names, e.g.
# requirements_release.txt (the newest Home Assistant release, no harness) in .ci/run.
REQUIREMENTS="$ROOT/${BALUPI_REQUIREMENTS:-requirements_test.txt}"

# The environment: the active virtualenv (../shared/tools/newest-ha sets one), else .venv.
if [ -n "${VIRTUAL_ENV:-}" ]; then
  VENV="$VIRTUAL_ENV"
else
  VENV="$ROOT/.venv"
fi
PY="$VENV/bin/python"

python_ok() {  # python_ok PYTHON: true when it runs and is 3.13 or newer
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1
}

requirements_stamp() {
  sha256sum "$REQUIREMENTS" | cut -d' ' -f1
}

env_ready() {  # the environment exists and has the current requirements installed
  [ -x "$PY" ] && python_ok "$PY" \
    && [ "$(cat "$VENV/.balupi-requirements" 2>/dev/null)" = "$(requirements_stamp)" ]
}
