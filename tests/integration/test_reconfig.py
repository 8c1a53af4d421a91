"""Smoke test of the switch at h+1 with real processes (the full acceptance suite with the
joining tooling lives with the CLI work): on a 4-validator testnet with one observer, the
governor adds the observer as validator 4 — its /status turns validator and its COMMITs
appear in certificates from h+1 on — then removes node0: node0 turns observer and follows,
node4 becomes index 3, and the remaining four keep committing without node0's signature."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cluster import running_testnet, wait_until

from chainnode import testnet
from chainnode.client import Client
from chainnode.core.certificate import CommitCertificate
from chainnode.crypto import domain
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PublicKey
from chainnode.joining import send_ready

GOV = "sys.governance"
CHAIN = "chainnode-local"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("reconfig")) / "tn"
    with running_testnet(root, 4, observers=1, params={"view_timeout_ms": 1000}):
        yield root


def _decide(admin: Client, kind: str, payload: dict) -> int:
    res = admin.call(GOV, "propose", {"kind": kind, "payload": payload})
    rc = res["receipt"]
    assert rc["status"] == "ok" and rc["value"]["status"] == "passed", rc
    return res["height"]


def _verifier(keys: list[bytes]):
    def verify(i: int, payload: bytes, sig: bytes) -> bool:
        return domain.verify(PublicKey(keys[i]), "commit", CHAIN, payload, sig)
    return verify


def _signers(c: Client, h: int) -> list[int]:
    return [s[0] for s in c.block(h)["certificate"]["signatures"]]


def test_add_then_remove_switches_at_h_plus_1(net):
    nodes = testnet.manifest(net)["nodes"]
    cl = [Client(n["rpc"]) for n in nodes]
    admin = Client(nodes[1]["rpc"], load_private_key(net / "admin.key"))
    obs_key = load_private_key(net / "node4" / "node.key")
    assert cl[4].status()["validator_index"] is None

    # the add-validator rail: the observer attests (signed by its key) that it is caught up
    assert send_ready(net / "node4", nodes[1]["rpc"])["receipt"]["status"] == "ok"
    t0 = time.monotonic()
    h = _decide(admin, "add-validator", {"name": "node4", "p2p": nodes[4]["p2p"],
                                         "public_key": obs_key.public_key.raw.hex()})
    wait_until(lambda: cl[4].status()["validator_index"] == 4, 30, "node4 to become validator")
    for k in range(6):  # load: every height is a block with a certificate
        admin.call("sys.members", "register", {"address": f"{k:040x}", "roles": ["member"]})
    top = cl[1].height()
    assert all(4 not in _signers(cl[1], x) for x in range(1, h + 1))  # never before h+1
    wait_until(lambda: any(4 in _signers(cl[1], x) for x in range(h + 1, cl[1].height() + 1)),
               30, "node4's COMMIT in a certificate after the change")
    print(f"\n[reconfig] decided at {h}; node4 in a certificate "
          f"{time.monotonic() - t0:.2f} s after proposing (6 txs committed one by one meanwhile)")
    assert cl[1].status()["validators"][4]["name"] == "node4"

    r = _decide(admin, "remove-validator", {"name": "node0"})
    wait_until(lambda: cl[0].status()["validator_index"] is None
               and cl[4].status()["validator_index"] == 3, 30, "node0 observer, node4 index 3")
    for k in range(6, 12):
        admin.call("sys.members", "register", {"address": f"{k:040x}", "roles": ["member"]})
    top = cl[1].height()
    assert top > r + 1
    keys = [load_private_key(net / f"node{i}" / "node.key").public_key.raw for i in range(5)]
    for x in range(r + 1, top + 1):  # a quorum of (node1..node4); under the old set: refused
        cert = CommitCertificate.decode(bytes.fromhex(cl[1].block(x)["certificate"]["wire"]))
        cert.check(4, _verifier(keys[1:]), height=x)
        with pytest.raises(ValueError):
            cert.check(5, _verifier(keys[:5]), height=x)
    wait_until(lambda: cl[0].height() >= top, 30, "node0 to follow as an observer")
    assert cl[0].block(top)["hash"] == cl[1].block(top)["hash"]
