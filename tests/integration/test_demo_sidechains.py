"""Acceptance: the side-chain demo (scripts/demo.py --sidechains 3) on the smallest setup — a
1-validator main chain and three 1-validator edge chains with their relayers.

The tariff goes down as packets, each district's day is billed and evaluated on its edge, and
the results go up: the demo exits 0 only if every planted outcome arrived. The test then asks
the main chain itself that each district result was delivered by sys.anchor's `recv` (a
transaction whose receipt names the anchored edge height the packet commitment was proven
at), and that the heights and lags the summary printed are the chain's. The whole multi-chain
testnet (chains and relayers) is stopped in teardown, also when the demo failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from integration_harness import run_cli

from chainnode import testnet
from chainnode.client import Client

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 150.0  # about 20 s on an idle 2-core machine
ROW = re.compile(r"^    (D[123])\s+(district-[123])\s+#(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)s\s+"
                 r"(\d+)\s+([\d,]+\.\d\d)$", re.M)


@pytest.fixture
def side_demo(tmp_path):
    root = tmp_path / "testnet"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        proc = subprocess.run(
            [sys.executable, "scripts/demo.py", "--dir", str(root), "--nodes", "1",
             "--sidechains", "3", "--side-nodes", "1", "--no-heating"],
            cwd=REPO, capture_output=True, text=True, timeout=DEMO_TIMEOUT, env=env)
        yield root, proc
    finally:
        if (root / "sidechains.json").exists():
            run_cli("testnet", "down", "--dir", str(root), check=False)


@pytest.mark.slow
def test_side_chain_demo_moves_tariffs_down_and_proven_results_up(side_demo):
    root, proc = side_demo
    out = proc.stdout
    why = f"demo exited {proc.returncode}\nstdout:\n{out}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0 and "NOT MET" not in out, why
    m = re.search(r"checks: (\d+) of (\d+) expectations met", out)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 20, why

    # down: every edge applied the main chain's tariff (its billing started with last year's)
    for i in (1, 2, 3):
        assert re.search(rf"district-{i}: applied version 1 \(packet #1 from chainnode-main\) "
                         r"at edge height \d+, [\d.]+ s after the push; billing flat now 0\.538 "
                         r"\(was 0\.530\)", out), why
    # prepaid cost control on the edges, with the control parameters that came down
    assert "sweep: district-1 3 CUT, 1 PENDING_CUT (PROTECTED); district-2 3 CUT; " \
        "district-3 3 CUT" in out, why
    # up: one row per district with the heights and the lag
    rows = {r[0]: r for r in ROW.findall(out)}
    assert sorted(rows) == ["D1", "D2", "D3"], why

    main = Client(testnet.manifest(root / "main")["nodes"][0]["rpc"])
    for d, (_, chain, seq, sent, proven, accepted, lag, bills, _amount) in rows.items():
        edge_dir = root / f"edge-{d[1]}"
        rec = main.query("district_results", "get_result", {"district": d, "date": int(
            re.search(r"District results of (\d{4})-(\d\d)-(\d\d)", out).expand(r"\1\2\3"))})
        assert rec["src_chain"] == chain and rec["sequence"] == int(seq)
        assert rec["sent_height"] == int(sent) and rec["accepted_height"] == int(accepted)
        assert abs(rec["lag_ms"] / 1000 - float(lag)) < 0.06 and rec["lag_ms"] > 0
        assert int(bills) >= 99
        # accepted only as sys.anchor.recv delivered it, proven at an anchored edge height
        tx = main.tx(rec["tx"])
        rc = tx["receipt"]
        assert rc["status"] == "ok" and rc["value"]["result"] == "delivered", tx
        assert rc["value"]["src_chain"] == chain and rc["value"]["ack"]["ok"], tx
        assert rc["value"]["proof_height"] == int(proven) >= int(sent), tx
        anchored = main.query("sys.anchor", "consensus", {"chain_id": chain,
                                                          "height": int(proven)})
        edge = Client(testnet.manifest(edge_dir)["nodes"][0]["rpc"])
        hdr = edge.block(int(proven))["header"]
        assert anchored and anchored["state_root"] and \
            _hex(anchored["state_root"]) == _hex(hdr["state_root"]), \
            (anchored, hdr)


def _hex(v) -> str:
    return v.hex() if isinstance(v, bytes | bytearray) else str(v)
