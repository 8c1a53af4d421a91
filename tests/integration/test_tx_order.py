"""Transactions sent one after another to one node commit in that order (issue 11).

Four real validator processes. The entry node is not the leader, so every transaction reaches
the leader as a forward over one peer link, where signatures are checked in parallel; the pool
must still take them in arrival order. Sequential POST /tx (each answered 202 before the next
is sent) and one POST /txs batch both keep their order on the chain.
"""

from __future__ import annotations

import pytest
from cluster import LocalNet, NodeProc, running_net, wait_until
from integration_harness import http

from chainnode import codec
from chainnode.core.tx import Transaction
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey

pytestmark = pytest.mark.slow

SEQUENTIAL = 200
BATCH = 100


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with running_net(tmp_path_factory.mktemp("txorder") / "tn",
                     chain_id="chainnode-txorder") as tn:
        yield tn


def _registrations(net: LocalNet, node: NodeProc, n: int) -> list[Transaction]:
    c = net.admin(node)
    h = c.height()
    return [c.build("system", "sys.members", "register",
                    {"address": address_of(PrivateKey.generate().public_key),
                     "roles": ["member"]}, height=h) for _ in range(n)]


def _committed_order(node: NodeProc, txs: list[Transaction], from_height: int) -> list[str]:
    """Our tx hashes in chain order, once the last of them has committed on `node`."""
    want = {tx.hash.hex() for tx in txs}
    last = wait_until(lambda: (node.tx(txs[-1].hash.hex()) or {}).get("height"), 30,
                      "the last transaction to commit")
    seen: list[str] = []
    for h in range(from_height + 1, last + 1):
        seen += [x for x in node.block(h)["tx_hashes"] if x in want]
    return seen


def _entry(net: LocalNet) -> NodeProc:
    return net.nodes[(net.leader().index + 1) % net.n]  # any node but the leader


def test_sequential_submissions_commit_in_submission_order(net):
    entry = _entry(net)
    txs = _registrations(net, entry, SEQUENTIAL)
    c = net.admin(entry)
    h0 = c.height()
    for tx in txs:
        assert c.submit(tx, wait=False)["status"] == "pending"
    order = _committed_order(entry, txs, h0)
    assert order == [tx.hash.hex() for tx in txs]


def test_a_batch_commits_in_its_order(net):
    entry = _entry(net)
    txs = _registrations(net, entry, BATCH)
    h0 = net.admin(entry).height()
    status, doc = http("POST", entry.url + "/txs", codec.encode([tx.encode() for tx in txs]),
                       "application/msgpack")
    assert status == 200 and doc["accepted"] == BATCH, doc
    assert _committed_order(entry, txs, h0) == [tx.hash.hex() for tx in txs]
