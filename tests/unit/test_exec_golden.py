"""Golden execution: a fixed-seed workload (member registrations, a contract deploy, contract
calls, failing transactions) gives pinned block hashes, receipt roots and state roots.

The values were produced by the code before the execution-path optimisations (receipt
encodings cached, SM3 from a copied hasher, key-hash and SMT-node caches, the sender's record
read once, the commit reusing the proposal's bytes); any change that alters a byte feeding
consensus fails here. The block hashes were re-pinned (from exec_workload.run, receipt and
state roots unchanged) when tx_root's leaves came to cover each tx's signature. The follower in the workload validates every block, so build and
validate must agree too.
"""

from __future__ import annotations

from exec_workload import block_txs, digest, run

from chainnode.core.block import Block, Receipt
from chainnode.store.db import ChainDB, StatePruned, state_key_hash

LAST = (4, "713c74a6d7daacaced7c6c5dd30a28e7d4ee63662489ac6dfdcdaf12495b0604",
        "423381fff8cc74809a8904852bfa1aa8183f88b668f1285f8beae6fbaad74ff1",
        "f723722c8c8b640720b371adf28c2db5160cdd8cbf00282f122cb03abb82075f")
DIGEST = "0e2992108bf467263d41bfd1296cf042f2c9dbcbf286d1ffb02ee7cf2238bd2f"


def test_fixed_workload_gives_the_pinned_hashes_and_stores_canonical_bytes(tmp_path):
    rows = run(tmp_path, 4, 60, 6)
    assert rows[-1] == LAST
    assert digest(rows) == DIGEST
    db = ChainDB(tmp_path / "follower")
    try:
        for h in (1, 2, 4):
            raw = db.block_bytes(h)
            blk = Block.decode(raw)
            assert blk.encode() == raw and blk.hash.hex() == rows[h - 1][1]
        txs = block_txs(2, 60, 6)
        statuses = [db.receipt(tx.hash).status for tx in txs]
        # 59 new members, one duplicate, 5 good calls and one failing call
        assert statuses == [0] * 59 + [1] + [0] * 5 + [1]
        rc = db.receipt(txs[-2].hash)
        assert rc.events and rc.events[0][1] == "Bumped"
        assert Receipt.decode(rc.encode()).encode() == rc.encode()
    finally:
        db.close()


def test_pruning_keeps_the_roots_and_a_pruned_tree_stays_unreadable(tmp_path):
    rows = run(tmp_path, 4, 60, 6, keep_versions=1)
    assert digest(rows) == DIGEST  # pruning never changes what a block commits to
    db = ChainDB(tmp_path / "leader", keep_versions=1)
    try:
        old_root = bytes.fromhex(rows[0][3])
        key = state_key_hash("sys.members", b"\xa0")
        try:
            db.prove_at(1, old_root, key)
        except StatePruned:
            pass
        else:
            raise AssertionError("height 1 should be pruned with keep_versions=1")
        head = db.head()
        value, proof = db.prove_at(head.height, head.state_root, key)  # the live tree is whole
        assert value is None and proof is not None
        assert db.recompute_state_root() == head.state_root
    finally:
        db.close()
