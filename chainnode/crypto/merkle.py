"""Binary Merkle root and inclusion proofs over ordered leaves (tx and receipt roots).

Leaves and inner nodes use distinct prefixes (0x00 / 0x01) so a leaf can never pose as an inner
node. An odd node at the end of a level is promoted unchanged (no duplication), which avoids
the CVE-2012-2459 style ambiguity of duplicating the last leaf.
"""

from __future__ import annotations

from collections.abc import Sequence

from chainnode.crypto.hashing import sm3, sm3_hasher

EMPTY_ROOT = sm3(b"chainnode/merkle/empty")


def leaf_hash(data: bytes) -> bytes:
    return sm3(b"\x00" + data)


def _node(left: bytes, right: bytes) -> bytes:
    return sm3(b"\x01" + left + right)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    # leaf_hash and _node written out, sm3 too: two hashes per leaf of every block's tx and
    # receipt roots, on every node
    level = []
    for x in leaves:
        h = sm3_hasher()
        h.update(b"\x00" + x)
        level.append(h.digest())
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            h = sm3_hasher()
            h.update(b"\x01" + level[i] + level[i + 1])
            nxt.append(h.digest())
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[list]:
    """Sibling path for leaf `index`: a list of [side, hash], side 0 = sibling on the left."""
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index out of range")
    level = [leaf_hash(x) for x in leaves]
    path: list[list] = []
    i = index
    while len(level) > 1:
        if i % 2 == 1:
            path.append([0, level[i - 1]])
        elif i + 1 < len(level):
            path.append([1, level[i + 1]])
        nxt = [_node(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        i //= 2
    return path


def verify_merkle_proof(root: bytes, leaf: bytes, path: Sequence) -> bool:
    try:
        h = leaf_hash(leaf)
        for side, sib in path:
            if not isinstance(sib, bytes) or len(sib) != 32 or side not in (0, 1):
                return False
            h = _node(sib, h) if side == 0 else _node(h, sib)
        return h == root
    except (TypeError, ValueError):
        return False
