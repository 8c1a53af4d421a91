"""A peer's `txs` frame through the node (Node._admit_forwarded): decoded, verified, pooled in
frame order as one batch; an invalid tx is refused alone, the peer reported once, and the
forwarded_in stage counts every tx of the frame."""

from __future__ import annotations

import asyncio

import pytest

from chainnode import testnet
from chainnode.config import NodeConfig
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey
from chainnode.node import Node

PEER = bytes(range(64))


@pytest.fixture
def node(tmp_path):
    genesis = testnet.init(tmp_path / "net", 1, chain_id="unit-forwarded")
    cfg = NodeConfig.load(tmp_path / "net" / "node0")
    cfg.verify_processes = 0
    cfg.verify_threads = 1
    n = Node(cfg)
    n.admin = load_private_key(tmp_path / "net" / "admin.key")
    n.test_chain_id = genesis.chain_id
    yield n
    n.mempool.close()
    n.db.close()


def _register(node) -> Transaction:
    return build_tx(node.admin, node.test_chain_id, "system", "sys.members", "register",
                    {"address": address_of(PrivateKey.generate().public_key),
                     "roles": ["member"]}, expires_at=100, gas_limit=100_000)


def _tampered(tx: Transaction) -> bytes:
    w = tx.to_wire()
    w[-1] = bytes([w[-1][0] ^ 1]) + w[-1][1:]
    return Transaction.from_wire(w).encode()


def _forwarded_in(node) -> tuple[int, float]:
    counts, total = node.metrics.stage_child("forwarded_in").snapshot()
    return sum(counts), total


async def _frame(node, raws: list[bytes]) -> list[str]:
    reports: list[str] = []
    node._report = lambda peer, reason: reports.append(reason)
    assert node._admitting.on_batch(PEER, raws) is None
    await asyncio.gather(*node._admitting.tasks())
    assert len(node._admitting) == 0
    return reports


async def test_a_clean_frame_is_pooled_in_order_with_one_verify_job(node):
    txs = [_register(node) for _ in range(6)]
    jobs = node.mempool.verifier.batches
    assert await _frame(node, [tx.encode() for tx in txs]) == []
    assert [tx.hash for tx in node.mempool.pending()] == [tx.hash for tx in txs]
    assert node.mempool.verifier.batches == jobs + 1
    count, total = _forwarded_in(node)
    assert count == 6 and total > 0


async def test_invalid_txs_are_refused_alone_and_the_peer_reported_once(node):
    txs = [_register(node) for _ in range(4)]
    raws = [txs[0].encode(), b"\x93not-a-tx", _tampered(txs[1]), txs[2].encode(),
            txs[3].encode()]
    reports = await _frame(node, raws)
    assert reports == ["forwarded an invalid tx: TX_MALFORMED"]
    assert [tx.hash for tx in node.mempool.pending()] == [txs[0].hash, txs[2].hash, txs[3].hash]
    assert node.mempool.rejected == {"TX_BAD_SIGNATURE": 1}
    assert _forwarded_in(node)[0] == 5  # every tx of the frame, refused ones included


async def test_a_bad_signature_alone_is_reported(node):
    tx = _register(node)
    assert await _frame(node, [_tampered(tx)]) == ["forwarded an invalid tx: TX_BAD_SIGNATURE"]
    assert len(node.mempool) == 0
