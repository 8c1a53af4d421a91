"""A host's package from `chainnode network init` runs with its own scripts: start.sh starts
its nodes and waits until they answer, stop.sh stops them (one host, on 127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cluster import get_json
from integration_harness import free_base_port, run_cli

from chainnode.testnet import pid_alive

pytestmark = pytest.mark.slow


def test_start_and_stop_scripts_of_a_package(tmp_path, procs):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("127.0.0.1:1\n")
    base = free_base_port(2)
    run_cli("network", "init", "--hosts", str(hosts), "--dir", str(tmp_path / "net"),
            "--base-port", str(base), "--chain-id", "chainnode-pkg")
    pkg = tmp_path / "net" / "127.0.0.1"
    env = {**os.environ, "CHAINNODE": f"{sys.executable} -m chainnode"}
    started = subprocess.run(["sh", str(pkg / "start.sh")], capture_output=True, text=True,
                             timeout=90, env=env, cwd=tmp_path)
    pidf = pkg / "node0" / "node.pid"
    if pidf.exists():
        procs.extra_pids.append(int(pidf.read_text()))  # stopped in teardown if still running
    assert started.returncode == 0, started.stdout + started.stderr
    assert "node0: ready at" in started.stdout
    st = get_json(f"http://127.0.0.1:{base + 1}/status")
    assert st is not None and st["chain_id"] == "chainnode-pkg"
    pid = int(pidf.read_text())
    stopped = subprocess.run(["sh", str(pkg / "stop.sh")], capture_output=True, text=True,
                             timeout=60, env=env, cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "node0: stopped pid" in stopped.stdout
    assert not pid_alive(pid) and not pidf.exists()
