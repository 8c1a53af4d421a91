"""A node with admission checks in worker processes (CHAINNODE_VERIFY_PROCESSES) admits and
commits good transactions, refuses a forged one, and leaves no process behind when it stops."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from integration_harness import http, init_single_node, wait_until

from chainnode import codec
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.sm2 import PrivateKey


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out.update(int(x) for x in f.read_text().split())
        except OSError:  # the thread ended meanwhile
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_worker_processes_verify_and_are_gone_after_stop(tmp_path, procs):
    net = init_single_node(tmp_path / "testnet", procs, start=False)
    net.node.extra_env["CHAINNODE_VERIFY_PROCESSES"] = "2"
    net.node.start()
    net.node.wait_ready()
    h = net.node.status()["height"]
    txs = [build_tx(net.admin_key, net.chain_id, "system", "sys.members", "register",
                    {"address": secrets.token_hex(20), "roles": ["member"], "name": ""},
                    expires_at=h + 500, gas_limit=100_000) for _ in range(12)]
    w = txs[-1].to_wire()  # the last one signed by someone else than its sender
    w[-1] = build_tx(PrivateKey.generate(), net.chain_id, "system", "sys.members", "register",
                     txs[-1].args, expires_at=txs[-1].expires_at, gas_limit=100_000,
                     nonce=txs[-1].nonce).signature
    txs[-1] = Transaction.from_wire(w)
    st, doc = http("POST", net.url + "/txs?wait=commit&timeout=60",
                   codec.encode([tx.encode() for tx in txs]), timeout=90)
    assert st == 200, doc
    assert [r.get("status") for r in doc["results"][:-1]] == ["committed"] * 11, doc
    assert doc["results"][-1]["error"]["code"] == "TX_BAD_SIGNATURE", doc
    pid = net.node.proc.pid
    workers = _children(pid)
    assert len(workers) >= 2, workers  # the two workers (and multiprocessing's tracker)
    log = net.node.log_text()
    assert "verify worker process died" not in log
    net.node.proc.terminate()
    assert net.node.proc.wait(30) == 0, net.node.log_tail()
    wait_until(lambda: not any(_alive(p) for p in workers), 15, "worker processes gone")
    assert "Traceback" not in net.node.log_text()


@pytest.mark.slow
def test_worker_processes_die_with_a_killed_node(tmp_path, procs):
    """kill -9 runs no cleanup: the workers must still go (parent-death signal), or every
    crash of a node would leave its verifiers running."""
    net = init_single_node(tmp_path / "testnet", procs, start=False)
    net.node.extra_env["CHAINNODE_VERIFY_PROCESSES"] = "2"
    net.node.start()
    net.node.wait_ready()
    h = net.node.status()["height"]
    tx = build_tx(net.admin_key, net.chain_id, "system", "sys.members", "register",
                  {"address": secrets.token_hex(20), "roles": ["member"], "name": ""},
                  expires_at=h + 500, gas_limit=100_000)
    st, doc = http("POST", net.url + "/tx?wait=commit&timeout=60", tx.encode(), timeout=90)
    assert st == 200, doc
    workers = _children(net.node.proc.pid)
    assert workers, "no worker process started"
    net.node.proc.kill()
    net.node.proc.wait(30)
    wait_until(lambda: not any(_alive(p) for p in workers), 15, "workers gone after kill -9")


def test_a_lone_testnet_node_verifies_in_processes_a_shared_machine_does_not(tmp_path):
    from chainnode import testnet
    from chainnode.config import NodeConfig

    testnet.init(tmp_path / "one", 1, base_port=27800)
    testnet.init(tmp_path / "four", 4, base_port=27820)
    testnet.init(tmp_path / "edge", 1, base_port=27840, shared_machine=True)
    assert NodeConfig.load(tmp_path / "one" / "node0").verify_processes == -1
    assert NodeConfig.load(tmp_path / "four" / "node2").verify_processes == 0
    assert NodeConfig.load(tmp_path / "edge" / "node0").verify_processes == 0
