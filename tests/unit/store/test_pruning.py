"""SMT pruning in ChainDB: the database follows live state, not history; recent versions stay
provable; pruned heights answer STATE_PRUNED; work per commit is bounded."""

from __future__ import annotations

import random

import pytest

from chainnode.core.block import Block, BlockHeader
from chainnode.crypto.hashing import sm3
from chainnode.store.db import (
    P_NODE,
    P_STALE,
    PRUNE_MIN_BUDGET,
    ChainDB,
    StatePruned,
    state_key_hash,
)
from chainnode.store.smt import verify_proof

CHAIN = "unit-prune"
Z = b"\0" * 32


def commit(db: ChainDB, head, writes):
    """Commit `writes` as the next block (the store checks no roots or certificates)."""
    root, nodes = db.compute_state_update(head.state_root, writes)
    hdr = BlockHeader(CHAIN, head.height + 1, head.block_hash, 1, 0, 0, Z, Z, root, Z, Z)
    block = Block(hdr, ())
    return db.commit_block(block, _Cert(), [], writes, nodes), nodes


class _Cert:
    def encode(self) -> bytes:
        return b"cert"


def count(db: ChainDB, prefix: bytes) -> int:
    return sum(1 for _ in db.db.iterator(prefix=prefix, include_value=False))


def start(db: ChainDB, n_keys: int):
    writes = {("app", b"k%d" % i): b"0" for i in range(n_keys)}
    return db.write_genesis(b"g" * 32, writes)


def test_db_stays_bounded_and_recent_proofs_verify(tmp_path):
    _bounded_run(ChainDB(tmp_path / "chain.ldb", keep_versions=20), 20)


def _bounded_run(db: ChainDB, keep: int) -> None:
    n_keys, blocks = 500, 800
    rnd = random.Random(1)
    head = start(db, n_keys)
    live = count(db, P_NODE)
    roots = {0: head.state_root}
    stale_sizes = []
    for _ in range(blocks):
        # three values per key: old leaves come back, so pruning meets resurrected nodes
        writes = {("app", b"k%d" % rnd.randrange(n_keys)): b"%d" % rnd.randrange(3)
                  for _ in range(10)}
        head, nodes = commit(db, head, writes)
        roots[head.height] = head.state_root
        stale_sizes.append(len(nodes.stale))
    # Bound: the head tree plus the nodes the last `keep` blocks made stale (all kept
    # versions), plus one block's pruning slack. Without pruning it would be ~30,000.
    bound = live + sum(stale_sizes[-(keep + 1):]) + max(stale_sizes)
    nodes_now = count(db, P_NODE)
    assert nodes_now <= bound, (nodes_now, bound)
    assert nodes_now < 2 * live + 2_000
    assert count(db, P_STALE) <= sum(stale_sizes[-(keep + 1):])
    oldest = db.oldest_state_height()
    assert head.height - keep <= oldest <= head.height
    # every kept version is whole and proves every key; the head equals the raw values
    assert db.recompute_state_root() == head.state_root
    for h in range(oldest, head.height + 1, 5):
        assert sum(1 for _ in db.smt.items(roots[h])) == n_keys
        for i in rnd.sample(range(n_keys), 20):
            kh = state_key_hash("app", b"k%d" % i)
            vh = db.smt.get(roots[h], kh)
            assert verify_proof(roots[h], kh, vh, db.smt.prove(roots[h], kh))
    db.check_state_height(oldest)
    with pytest.raises(StatePruned) as err:
        db.check_state_height(oldest - 1)
    assert err.value.code == "STATE_PRUNED"
    db.close()


def test_pruning_is_bounded_per_commit_and_drains_a_backlog(tmp_path):
    path = tmp_path / "chain.ldb"
    db = ChainDB(path, keep_versions=10_000)
    head = start(db, 300)
    for b in range(20):
        head, _ = commit(db, head, {("app", b"k%d" % i): b"%d" % b for i in range(0, 300, 6)})
    backlog = count(db, P_STALE)
    assert backlog > 3 * PRUNE_MIN_BUDGET  # nothing pruned yet: all within the window
    db.close()
    db = ChainDB(path, keep_versions=1)  # an operator shrinks the window
    sizes = [backlog]
    while sizes[-1] > 0 and len(sizes) < 50:
        head, nodes = commit(db, head, {("app", b"k1"): b"x%d" % len(sizes)})
        sizes.append(count(db, P_STALE))
        # one commit drains at most its budget, so no commit stops the world
        assert sizes[-2] - sizes[-1] + len(nodes.stale) <= 2 * len(nodes.stale) + PRUNE_MIN_BUDGET
    assert sizes[-1] <= 2 * 10  # drained down to the last block or two
    assert len(sizes) > 3  # it took several commits
    assert db.oldest_state_height() >= head.height - 1
    assert db.recompute_state_root() == head.state_root
    db.close()


def test_archive_node_keeps_every_version(tmp_path):
    db = ChainDB(tmp_path / "chain.ldb")  # keep_versions=0
    head = start(db, 50)
    first = head.state_root
    for b in range(30):
        head, _ = commit(db, head, {("app", b"k1"): b"%d" % b})
    assert count(db, P_STALE) == 0
    assert db.oldest_state_height() == 0
    kh = state_key_hash("app", b"k1")
    assert db.smt.get(first, kh) == sm3(b"0")
    db.close()


def test_the_node_cache_forgets_what_pruning_deletes(tmp_path):
    """The store keeps hot SMT nodes in memory; a pruned tree must stay unreadable through the
    same handle that read (and cached) it before."""
    from chainnode.store.smt import MissingNodeError

    db = ChainDB(tmp_path / "chain.ldb", keep_versions=1)
    try:
        head = start(db, 50)
        roots = [head.state_root]
        for v in range(4):  # every key rewritten: every old node goes stale
            head, _ = commit(db, head, {("app", b"k%d" % i): b"v%d" % v for i in range(50)})
            roots.append(head.state_root)
        assert sum(1 for _ in db.smt.items(roots[-1])) == 50
        with pytest.raises(MissingNodeError):
            list(db.smt.items(roots[0]))
    finally:
        db.close()
