"""scripts/bench_scale.py --small: every part (store costs, a real node's disk and memory under
batched load, catch-up through BlockSync, the pruning bound) runs end to end and reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from integration_harness import free_base_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_scale.py"


@pytest.mark.slow
def test_small_mode_runs_every_part():
    base = free_base_port(100)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--small", "--base-port", str(base)],
                          capture_output=True, text=True, timeout=240, env=env)
    out = proc.stdout
    assert proc.returncode == 0, (out, proc.stderr[-3000:])
    assert "store     1,000 keys:" in out
    assert "node memory: " in out and "RSS" in out and "     1,500 txs: RSS" in out
    assert "catch-up: 60 blocks (120 txs)" in out
    assert "pruning: bound held at every sample" in out
    assert "node: 200 txs in" in out
