"""An observer (non-voting full node) follows certified blocks and forwards client txs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cluster import free_base_port, running_testnet

from chainnode import testnet
from chainnode.client import Client
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def observed_net(tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("observer")) / "tn"
    with running_testnet(root, 4, observers=1, params={"view_timeout_ms": 1000}):
        yield root


def test_observer_follows_and_forwards(observed_net):
    root = observed_net
    nodes = testnet.manifest(root)["nodes"]
    obs_url = nodes[4]["rpc"]
    obs = Client(obs_url)
    st = obs.status()
    assert st["validator_index"] is None  # it does not vote
    admin = Client(obs_url, load_private_key(root / "admin.key"))
    # a tx sent to the observer is forwarded to the validators and commits
    addrs = []
    for _ in range(3):
        k = PrivateKey.generate()
        addrs.append(address_of(k.public_key))
        res = admin.submit(admin.build("system", "sys.members", "register",
                                       {"address": addrs[-1], "roles": ["member"]}),
                           wait=False)
        assert res["status"] == "pending"
    v0 = Client(nodes[0]["rpc"])
    _wait(lambda: v0.height() >= 1 and all(
        Client(nodes[0]["rpc"]).get(f"/state/sys.members/{a}")["exists"] for a in addrs),
        30, "validators to commit the observer's txs")
    target = v0.height()
    # the observer reaches the validators' head with the same block hashes
    _wait(lambda: obs.height() >= target, 20, "the observer to follow")
    for h in range(1, target + 1):
        assert obs.block(h)["hash"] == v0.block(h)["hash"]
    # and serves proofs a client can verify against the genesis validators
    vs = obs.state("sys.members", addrs[0], Genesis.load(root / "genesis.json"))
    assert vs.exists and vs.value["roles"] == ["member"]


def test_unregistered_observer_cannot_join(observed_net, tmp_path):
    """An observer key that is not a member is refused by every validator."""
    from chainnode.config import NodeConfig

    root = observed_net
    src = root / "node4"
    home = tmp_path / "rogue"
    home.mkdir()
    for f in ("genesis.json", "node4.crt", "node4.key"):
        (home / f).write_bytes((src / f).read_bytes())
    from chainnode.crypto.keyfile import save_private_key

    save_private_key(home / "node.key", PrivateKey.generate())
    cfg = NodeConfig.load(src)
    cfg.home = home
    cfg.tls_ca = str((src / cfg.tls_ca).resolve())
    cfg.tls_cert, cfg.tls_key = "node4.crt", "node4.key"
    port = free_base_port(2)
    cfg.p2p_port, cfg.rpc_port, cfg.name = port, port + 1, "rogue"
    cfg.save()
    import subprocess
    import sys

    log = open(home / "node.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "chainnode", "start", "--home", str(home)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        rogue = Client(f"http://127.0.0.1:{port + 1}")
        _wait(lambda: _status_or_none(rogue), 30, "the rogue node's RPC")
        logs = [root / f"node{i}" / "node.log" for i in range(4)]
        _wait(lambda: any("rejected inbound peer" in p.read_text(errors="replace")
                          and "not-authorised" in p.read_text(errors="replace") for p in logs),
              30, "a validator to log the refused identity")
        assert rogue.status()["peers"] == []
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _status_or_none(c: Client):
    try:
        return c.status()
    except OSError:
        return None
