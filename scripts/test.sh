#!/usr/bin/env bash
# Install chainnode with its test extras into .venv (created if missing) and run the suite.
# Exit code is pytest's. Extra arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
echo "==> installing chainnode[test]"
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "==> ruff"
.venv/bin/ruff check chainnode tests scripts
echo "==> pytest"
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
exit $rc
