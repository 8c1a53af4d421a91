"""Red team of a peer's `txs` frame through the node (Node._admit_forwarded): a full frame from a
validator with valid keys mixing every kind of bad tx with good ones, while the same good tx
also arrives from another peer and from a client. Each bad tx is refused alone, the good ones
enter the pool in frame order, the hostile peer is reported once, the honest one never."""

from __future__ import annotations

import asyncio

from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto import domain
from tests.unit.test_node_forwarded import _register, _tampered, node  # noqa: F401 - fixture


def _resigned(key, tx: Transaction) -> Transaction:
    w = tx.to_wire()
    w[-1] = domain.sign(key, "tx", tx.chain_id, tx.body_bytes())
    return Transaction.from_wire(w)


HOSTILE = bytes(range(64))
HONEST = bytes(range(1, 65))


async def test_a_full_mixed_frame_refuses_each_bad_tx_alone_and_keeps_the_order(node):  # noqa: F811
    reports: list[tuple[bytes, str]] = []
    node._report = lambda peer, reason: reports.append((peer, reason))
    good = [_register(node) for _ in range(250)]
    shared = good[100]
    replay, expired = _register(node), build_tx(
        node.admin, node.test_chain_id, "system", "sys.members", "get", {}, expires_at=0)
    wrong_chain = build_tx(node.admin, "other-chain", "system", "sys.members", "get", {},
                           expires_at=100)
    committed = {replay.hash}
    is_committed = node.mempool.is_committed
    node.mempool.is_committed = lambda h: h in committed or is_committed(h)
    raws = [tx.encode() for tx in good]
    raws[10:10] = [_tampered(good[11])]  # a bad twin just before the good one
    raws[50:50] = [replay.encode(), expired.encode(), wrong_chain.encode(), b"\x90"]
    twin = _resigned(node.admin, good[0])  # the same tx (hash) again, other valid signature bytes
    assert twin.hash == good[0].hash and twin.encode() != raws[0]
    raws.append(twin.encode())
    assert len(raws) == 256
    assert node._admitting.on_batch(HOSTILE, raws) is None
    assert node._admitting.on_batch(HONEST, [shared.encode()]) is None
    client = asyncio.create_task(node.mempool.add(shared))
    await asyncio.gather(*node._admitting.tasks())
    await asyncio.wait([client])
    assert [tx.hash for tx in node.mempool.pending()] == [tx.hash for tx in good]
    assert client.exception() is not None and client.exception().code == "TX_DUPLICATE"
    assert [peer for peer, _ in reports] == [HOSTILE]  # once, and never the honest peer
    assert node.mempool.rejected.get("TX_DUPLICATE") == 3  # the twin, the peer and client copies
    assert node.mempool.rejected.get("TX_BAD_SIGNATURE") == 1
    assert node.mempool.rejected.get("TX_REPLAY") == 1
    assert node.mempool.rejected.get("TX_EXPIRED") == 1
    assert node.mempool.rejected.get("TX_WRONG_CHAIN") == 1
    assert all(node.mempool.admitting(tx.hash) is None for tx in good)
    assert len(node._admitting) == 0 and node.mempool.ordered_sources() == 0
