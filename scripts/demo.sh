#!/usr/bin/env bash
# Install chainnode into .venv, start a local testnet, run a realistic scenario, print what
# happened, and stop the testnet (also on error or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
NODES="${CHAINNODE_DEMO_NODES:-4}"
# main chain + one edge chain per district (1 validator each) when the machine has 2+ cores;
# CHAINNODE_DEMO_SIDECHAINS=0 plays the whole day on a single chain
CORES="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
SIDECHAINS="${CHAINNODE_DEMO_SIDECHAINS:-$([ "$CORES" -ge 2 ] && echo 3 || echo 0)}"
[ "$SIDECHAINS" = "0" ] || SIDECHAINS=3
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
echo "==> installing chainnode"
.venv/bin/python -m pip install --quiet -e . 2>&1 | grep -v "^WARNING: Location" || true
DIR="$(mktemp -d "${TMPDIR:-/tmp}/chainnode-demo.XXXXXX")"
cleanup() {
    echo "==> stopping testnet"
    .venv/bin/chainnode testnet down --dir "$DIR/testnet" || true
    if [ "${KEEP_DEMO_DIR:-0}" = "1" ]; then echo "testnet kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
export PYTHONHASHSEED=0
.venv/bin/python scripts/demo.py --dir "$DIR/testnet" --nodes "$NODES" --sidechains "$SIDECHAINS" "$@"
