"""Binary Merkle roots and inclusion proofs (tx and receipt roots)."""

from __future__ import annotations

import pytest

from chainnode.crypto.hashing import sm3_pure
from chainnode.crypto.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    merkle_proof,
    merkle_root,
    verify_merkle_proof,
)

LEAVES = [b"leaf-%d" % i for i in range(18)]


def ref_leaf(x: bytes) -> bytes:
    return sm3_pure(b"\x00" + x)


def ref_node(a: bytes, b: bytes) -> bytes:
    return sm3_pure(b"\x01" + a + b)


def ref_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 shape (split at the largest power of two below n) with independent SM3.

    Pairing left to right and promoting an odd last node unchanged builds exactly this tree.
    """
    if len(leaves) == 1:
        return ref_leaf(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return ref_node(ref_root(leaves[:k]), ref_root(leaves[k:]))


def flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_empty_root():
    assert merkle_root([]) == EMPTY_ROOT == sm3_pure(b"chainnode/merkle/empty")


def test_small_trees_by_hand():
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([a]) == ref_leaf(a)
    assert merkle_root([a, b]) == ref_node(ref_leaf(a), ref_leaf(b))
    # odd node promoted unchanged, not paired with a copy of itself
    assert merkle_root([a, b, c]) == ref_node(ref_node(ref_leaf(a), ref_leaf(b)), ref_leaf(c))
    assert leaf_hash(a) == ref_leaf(a)


@pytest.mark.parametrize("n", range(0, 18))
def test_root_matches_reference(n):
    leaves = LEAVES[:n]
    if n == 0:
        assert merkle_root(leaves) == EMPTY_ROOT
    else:
        assert merkle_root(leaves) == ref_root(leaves)


def test_roots_differ_for_all_prefix_lengths_and_order():
    roots = {merkle_root(LEAVES[:n]) for n in range(18)}
    assert len(roots) == 18
    assert merkle_root([b"a", b"b"]) != merkle_root([b"b", b"a"])


def test_no_duplicate_last_leaf_ambiguity():
    # CVE-2012-2459: [a, b, c] and [a, b, c, c] must not share a root
    assert merkle_root([b"a", b"b", b"c"]) != merkle_root([b"a", b"b", b"c", b"c"])
    assert merkle_root(LEAVES[:5]) != merkle_root(LEAVES[:5] + LEAVES[4:5])


def test_leaf_cannot_pose_as_inner_node():
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    root2 = merkle_root([b"a", b"b"])
    assert merkle_root([a + b]) != root2
    assert not verify_merkle_proof(root2, a + b, [])


@pytest.mark.parametrize("n", range(1, 18))
def test_every_proof_verifies_and_tampering_fails(n):
    leaves = LEAVES[:n]
    root = merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        path = merkle_proof(leaves, i)
        assert verify_merkle_proof(root, leaf, path), (n, i)
        assert len(path) <= max(1, (n - 1).bit_length())
        assert not verify_merkle_proof(root, leaf + b"x", path)
        assert not verify_merkle_proof(flip(root), leaf, path)
        for j in range(len(path)):
            side, sib = path[j]
            bad_sib = [p[:] for p in path]
            bad_sib[j] = [side, flip(sib)]
            assert not verify_merkle_proof(root, leaf, bad_sib), (n, i, j, "sibling")
            bad_side = [p[:] for p in path]
            bad_side[j] = [1 - side, sib]
            assert not verify_merkle_proof(root, leaf, bad_side), (n, i, j, "side")
        if path:
            assert not verify_merkle_proof(root, leaf, path[:-1])
        assert not verify_merkle_proof(root, leaf, path + [[0, root]])
        if n > 1:
            other = (i + 1) % n
            assert not verify_merkle_proof(root, leaves[other], path)


def test_promoted_odd_node_proofs():
    # 3 leaves: leaf 2 is promoted at level 0, so its path has a single step
    p = merkle_proof(LEAVES[:3], 2)
    assert p == [[0, ref_node(ref_leaf(LEAVES[0]), ref_leaf(LEAVES[1]))]]
    # 5 leaves: leaf 4 is promoted twice
    p = merkle_proof(LEAVES[:5], 4)
    assert len(p) == 1 and p[0][0] == 0 and p[0][1] == ref_root(LEAVES[:4])
    # 6 leaves: leaf 4 pairs with 5, then the pair is promoted, then joins the first four
    p = merkle_proof(LEAVES[:6], 4)
    assert p == [[1, ref_leaf(LEAVES[5])], [0, ref_root(LEAVES[:4])]]
    # a single leaf needs no path
    assert merkle_proof(LEAVES[:1], 0) == []
    assert verify_merkle_proof(merkle_root(LEAVES[:1]), LEAVES[0], [])


@pytest.mark.parametrize("path", [
    [[2, b"\x00" * 32]],
    [[0, b"\x00" * 31]],
    [[0, "00" * 32]],
    [[0]],
    [[0, b"\x00" * 32, 1]],
    [None],
    [[None, b"\x00" * 32]],
    5,
], ids=["side2", "short", "str", "one", "three", "none", "side-none", "not-a-list"])
def test_malformed_proofs_return_false(path):
    root = merkle_root(LEAVES[:2])
    assert verify_merkle_proof(root, LEAVES[0], path) is False


def test_non_bytes_leaf_returns_false():
    assert verify_merkle_proof(merkle_root([b"a"]), "a", []) is False


@pytest.mark.parametrize("i", [-1, 3, 100])
def test_proof_index_out_of_range(i):
    with pytest.raises(IndexError):
        merkle_proof(LEAVES[:3], i)
    with pytest.raises(IndexError):
        merkle_proof([], 0)
