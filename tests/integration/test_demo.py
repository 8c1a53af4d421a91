"""Acceptance: the demo day (scripts/demo.py) runs end to end on a fresh one-validator testnet.

The demo deploys the power contracts, plays 3 districts x 100 meters and exits non-zero if any
planted outcome is missing, so exit code 0 plus the key summary lines is the acceptance. The
testnet is always stopped (`chainnode testnet down`) in teardown, also when the demo failed or
timed out. Afterwards scripts/deploy_contracts.py is re-run on the same chain: idempotent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from integration_harness import free_base_port, run_cli

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 150.0  # the demo itself takes about 15 s on 4 validators


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def demo_run(tmp_path):
    """Run the demo once; yield (testnet dir, completed process); always stop the testnet."""
    root = tmp_path / "testnet"
    base = free_base_port(8)
    try:  # 4 validators, as the README's demo.sh runs it: reads must work on every node
        proc = _run(["scripts/demo.py", "--dir", str(root), "--nodes", "4",
                     "--base-port", str(base)], DEMO_TIMEOUT)
        yield root, proc
    finally:
        if (root / "testnet.json").exists():
            run_cli("testnet", "down", "--dir", str(root), check=False)


def test_demo_day_runs_and_finds_everything_it_planted(demo_run):
    root, proc = demo_run
    out = proc.stdout
    why = f"demo exited {proc.returncode}\nstdout:\n{out}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, why
    assert "NOT MET" not in out and "DEMO FAILED" not in proc.stderr, why

    m = re.search(r"checks: (\d+) of (\d+) expectations met", out)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 25, why
    m = re.search(r"==> done: (\d+) transactions sent \((\d+) refused on purpose\) in (\d+) "
                  r"blocks \(height (\d+) -> (\d+)\), ([\d.]+) s in all", out)
    assert m, why
    sent, blocks = int(m.group(1)), int(m.group(3))
    assert sent >= 100 and 1 <= blocks <= sent, why

    # accounts, contracts, roles
    assert "rejected: 403 TX_NOT_MEMBER" in out
    for name in ("billing", "reconciliation", "district"):
        assert re.search(rf"^    {name}\s+v1\s+deployed\s+code [0-9a-f]{{64}}\s+gas\s+[\d,]+\s+"
                         r"block \d+$", out, re.M), why
    # cost control: hospital protected, cuts executed, payments restore
    assert "D1-000 Renmin Hospital (protected): PENDING_CUT" in out
    assert "sweep: 9 CUT, 1 PENDING_CUT (PROTECTED)" in out
    assert "restored after paying today: D1-005, D1-029, D2-005, D3-005, D3-029" in out
    # reconciliation: every planted class, amounts in yuan
    for cls, amount in [("AMOUNT_DIFF", None), ("ONLY_IN_BANK", "30.00"),
                        ("ONLY_IN_SYSTEM", None), ("DUPLICATE", None), ("IN_TRANSIT", "80.00")]:
        line = re.search(rf"^    {cls}\s+1\s+\d+\s+([\d,]+\.\d\d)\s", out, re.M)
        assert line, f"{cls} missing\n{why}"
        if amount:
            assert line.group(1) == amount, line.group(0)
    assert re.search(r"AMOUNT_DIFF .* \(\+5\.00\)", out)
    # districts: the three line-loss bands, alarms
    assert re.search(r"^    D1 .*5\.00 %\s+QUALIFIED", out, re.M), why
    assert re.search(r"^    D2 .*HIGH_LOSS", out, re.M), why
    assert re.search(r"^    D3 .*-\d+\.\d\d %\s+NEGATIVE_LOSS", out, re.M), why
    assert re.search(r"OUTAGE_DISTRICT\s+D1\s+90 of 100 meters down within 3 min", out), why
    assert re.search(r"IMBALANCE\s+T-D2", out), why
    assert re.search(r"ABNORMAL_USE\s+D2-017\s+READING_DOWN, COVER_OPEN", out), why
    assert re.search(r"ABNORMAL_USE\s+D2-042\s+METER_STOPPED", out), why
    assert re.search(r"LOW_USE\s+D2-063", out), why
    assert "excluded as cut: D2-058" in out
    # electric heating: FL receipts re-checked, DR settled with the federated baseline
    assert "chainnode fl verify: ok" in out, why
    assert re.search(r"^    round  3/3: 5 commitments", out, re.M), why
    assert "DR: the event is settled with the federated model's baseline" in out, why
    # the proof
    assert "with an SMT proof: verified against the state root" in out
    assert "equals the query answer: True" in out

    # what `curl /metrics` shows after the demo: every node's histograms counted its work
    for n in json.loads((root / "testnet.json").read_text())["nodes"]:
        with urllib.request.urlopen(n["rpc"] + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for hist in ("tx_commit_latency_seconds", "block_interval_seconds",
                     "consensus_phase_seconds", "block_execution_seconds",
                     "sm2_verify_queue_seconds", "rpc_request_seconds"):
            counts = re.findall(rf"^chainnode_{hist}_count(?:{{[^}}]*}})? (\S+)$", text, re.M)
            assert counts and sum(map(float, counts)) > 0, (n["name"], hist)

    # deploy_contracts.py on the same chain: nothing to do, exit 0
    again = _run(["scripts/deploy_contracts.py", "--dir", str(root)], 60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(" unchanged ") == 3, again.stdout
    # and a clear error with a non-zero exit when the node cannot be reached
    dead = _run(["scripts/deploy_contracts.py", "--dir", str(root), "--url",
                 f"http://127.0.0.1:{free_base_port(1)}"], 60)
    assert dead.returncode == 1
    assert "error: cannot reach the node" in dead.stderr
