"""The stale set of an SMT update is exactly the old tree's nodes the new tree lost: pruning
deletes only those, so it can never take a node that the new tree still uses."""

from __future__ import annotations

import random

from chainnode.store.smt import EMPTY_ROOT, MemoryNodeStore, SparseMerkleTree, decode_node


def reachable(store: MemoryNodeStore, root: bytes) -> set[bytes]:
    out, stack = set(), [root]
    while stack:
        h = stack.pop()
        if h == EMPTY_ROOT or h in out:
            continue
        out.add(h)
        tag, a, b = decode_node(store.nodes[h])
        if tag == 1:
            stack += [a, b]
    return out


def test_stale_is_old_tree_minus_new_tree_under_inserts_updates_deletes_and_reverts():
    rnd = random.Random(7)
    keys = [rnd.randbytes(32) for _ in range(120)]
    # a few keys sharing long prefixes, so chains of one-sided nodes appear and collapse
    keys += [keys[0][:30] + bytes([i, 0]) for i in range(6)]
    values = [bytes([v]) * 32 for v in range(1, 4)]  # few values: old leaves come back
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    root = EMPTY_ROOT
    for _ in range(250):
        writes = {k: rnd.choice(values + [None]) for k in rnd.sample(keys, rnd.randint(1, 25))}
        old = reachable(store, root)
        new_root, nodes = tree.update(root, writes)
        store.put_nodes(nodes)
        new = reachable(store, new_root)
        assert nodes.stale == old - new
        assert set(nodes) <= new
        root = new_root
