"""SM3 sparse Merkle tree over 256-bit key hashes: the world-state commitment.

Binary tree, key bits read most-significant first, with Jellyfish-style compressed leaves: a
leaf sits at the shallowest depth where its key's path is unique, an empty subtree is the
constant EMPTY_HASH, and every other subtree is an internal node. That shape is a function of
the key set alone, so the root does not depend on write order or batching, and a tree of N
random keys is about log2(N) levels deep instead of 256.

Hashing (domain byte first, so a leaf preimage can never be an internal preimage):
    leaf     = SM3(0x00 || key_hash || value_hash)
    internal = SM3(0x01 || left || right)
    empty    = 32 zero bytes (no node is stored for it)

Nodes are immutable and addressed by hash. `update` never touches old nodes; it returns the
new ones for the caller to put in the block's write batch, so every old root stays readable
and provable until someone prunes it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from chainnode import codec
from chainnode.crypto.hashing import sm3, sm3_hasher

HASH_LEN = 32
KEY_BITS = 256
EMPTY_HASH = bytes(HASH_LEN)
EMPTY_ROOT = EMPTY_HASH

LEAF_TAG = 0
INTERNAL_TAG = 1
_LEAF_DOMAIN = b"\x00"
_INTERNAL_DOMAIN = b"\x01"

# Node encodings are exactly what chainnode.codec produces for [tag, a, b] with two 32-byte
# bin fields; building/parsing them by hand keeps the hot path free of the general codec.
_BIN32 = b"\xc4\x20"
_LEAF_HEAD = b"\x93\x00" + _BIN32
_INTERNAL_HEAD = b"\x93\x01" + _BIN32
NODE_LEN = 4 + HASH_LEN + 2 + HASH_LEN

PROOF_VERSION = 1

_EMPTY = 0  # subtree kinds returned by the update recursion
_LEAF = 1
_INTERNAL = 2


class NodeBatch(dict):
    """The new nodes of one update (hash -> encoded node), plus `stale`: the hashes of the old
    tree's nodes that the new tree no longer has, which a pruning store may delete once no
    kept version needs them. A dict, so callers that only store nodes need not know."""

    stale: frozenset[bytes] = frozenset()


class MissingNodeError(LookupError):
    """A node reachable from the given root is not in the node store."""


class NodeReader(Protocol):
    def get_node(self, node_hash: bytes) -> bytes | None: ...


class MemoryNodeStore:
    """Dict-backed node store for tests, tools and light clients."""

    def __init__(self, nodes: Mapping[bytes, bytes] | None = None) -> None:
        self.nodes: dict[bytes, bytes] = dict(nodes or {})

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)

    def put_nodes(self, nodes: Mapping[bytes, bytes]) -> None:
        self.nodes.update(nodes)

    def __len__(self) -> int:
        return len(self.nodes)


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    return sm3(_LEAF_DOMAIN + key_hash + value_hash)


def internal_hash(left: bytes, right: bytes) -> bytes:
    return sm3(_INTERNAL_DOMAIN + left + right)


def encode_node(tag: int, a: bytes, b: bytes) -> bytes:
    """Canonical codec encoding of a node: [0, key_hash, value_hash] or [1, left, right]."""
    return (_LEAF_HEAD if tag == LEAF_TAG else _INTERNAL_HEAD) + a + _BIN32 + b


def decode_node(data: bytes) -> tuple[int, bytes, bytes]:
    """Inverse of encode_node; accepts only the canonical form (ValueError otherwise)."""
    if (
        len(data) != NODE_LEN
        or data[0] != 0x93
        or data[1] > INTERNAL_TAG
        or data[2:4] != _BIN32
        or data[36:38] != _BIN32
    ):
        raise ValueError("malformed SMT node")
    return data[1], data[4:36], data[38:]


def _bit(key: bytes, depth: int) -> int:
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


def _common_prefix_bits(a: bytes, b: bytes) -> int:
    x = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return KEY_BITS - x.bit_length()


def _check_hash(value: bytes, what: str) -> None:
    if type(value) is not bytes or len(value) != HASH_LEN:
        raise ValueError(f"{what} must be {HASH_LEN} bytes")


class SparseMerkleTree:
    """Stateless view of all tree versions held by a NodeReader; roots select the version."""

    def __init__(self, nodes: NodeReader) -> None:
        self.nodes = nodes

    # -- reading -----------------------------------------------------------------------------

    def _load(self, node_hash: bytes) -> tuple[int, bytes, bytes]:
        data = self.nodes.get_node(node_hash)
        if data is None:
            raise MissingNodeError(f"SMT node {node_hash.hex()} not found")
        return decode_node(data)

    def get(self, root: bytes, key_hash: bytes) -> bytes | None:
        """Value hash stored under key_hash in the tree at root, or None."""
        _check_hash(root, "root")
        _check_hash(key_hash, "key_hash")
        node, depth = root, 0
        while node != EMPTY_HASH:
            tag, a, b = self._load(node)
            if tag == LEAF_TAG:
                return b if a == key_hash else None
            node = b if _bit(key_hash, depth) else a
            depth += 1
        return None

    def prove(self, root: bytes, key_hash: bytes) -> SmtProof:
        """Inclusion proof if key_hash is present, else a non-inclusion proof."""
        _check_hash(root, "root")
        _check_hash(key_hash, "key_hash")
        siblings: list[bytes] = []
        node, depth = root, 0
        while node != EMPTY_HASH:
            tag, a, b = self._load(node)
            if tag == LEAF_TAG:
                return SmtProof(leaf=(a, b), siblings=tuple(siblings))
            if _bit(key_hash, depth):
                siblings.append(a)
                node = b
            else:
                siblings.append(b)
                node = a
            depth += 1
        return SmtProof(leaf=None, siblings=tuple(siblings))

    def items(self, root: bytes) -> Iterator[tuple[bytes, bytes]]:
        """All (key_hash, value_hash) pairs under root, in key order (for sync and tools)."""
        _check_hash(root, "root")
        stack = [root]
        while stack:
            node = stack.pop()
            if node == EMPTY_HASH:
                continue
            tag, a, b = self._load(node)
            if tag == LEAF_TAG:
                yield a, b
            else:
                stack.append(b)
                stack.append(a)

    # -- writing -----------------------------------------------------------------------------

    def update(
        self, root: bytes, writes: Mapping[bytes, bytes | None]
    ) -> tuple[bytes, dict[bytes, bytes]]:
        """Apply all writes (key_hash -> value_hash, None = delete) in one batched pass.

        Returns (new_root, new_nodes); new_nodes (hash -> encoded node) are the nodes of the
        new tree that the store may not have yet. Old nodes are never changed.
        """
        _check_hash(root, "root")
        for k, v in writes.items():
            _check_hash(k, "key_hash")
            if v is not None:
                _check_hash(v, "value_hash")
        keys = sorted(writes)
        vals = [writes[k] for k in keys]
        if not keys:
            return root, NodeBatch()
        op = _Update(self, keys, vals)
        new_root, _ = op.update(root, 0, 0, len(keys))
        op.new_nodes.stale = frozenset(op.stale.difference(op.new_nodes))
        return new_root, op.new_nodes


class _Update:
    """One batched update: a single recursive pass over the sorted writes."""

    __slots__ = ("tree", "keys", "vals", "new_nodes", "stale", "_keep")

    def __init__(self, tree: SparseMerkleTree, keys: list[bytes], vals: list[bytes | None]):
        self.tree = tree
        self.keys = keys
        self.vals = vals
        self.new_nodes = NodeBatch()
        self.stale: set[bytes] = set()  # old nodes replaced by this update
        # (key, value, hash) of an existing leaf that build() is re-creating unchanged: its
        # hash is known, so it is neither hashed again nor emitted as a new node
        self._keep: tuple[bytes, bytes, bytes] | None = None

    def _split(self, keys: list[bytes], lo: int, hi: int, depth: int) -> int:
        """First index in keys[lo:hi] (which share `depth` leading bits) whose bit is 1.

        Those keys are sorted and agree above bit `depth`, so that index is the first key at
        or above their common prefix followed by a 1 and zeros: one C-level bisect on plain
        byte comparisons instead of a Python key function per probe."""
        if lo >= hi:
            return lo
        shift = KEY_BITS - 1 - depth
        pivot = ((int.from_bytes(keys[lo], "big") >> shift) | 1) << shift
        return bisect.bisect_left(keys, pivot.to_bytes(HASH_LEN, "big"), lo, hi)

    def _leaf(self, key: bytes, value: bytes) -> bytes:
        d = sm3_hasher()  # sm3() written out: a few hashes per write per block on every node
        d.update(_LEAF_DOMAIN + key + value)
        h = d.digest()
        self.new_nodes[h] = _LEAF_HEAD + key + _BIN32 + value
        return h

    def _internal(self, left: bytes, right: bytes) -> bytes:
        d = sm3_hasher()
        d.update(_INTERNAL_DOMAIN + left + right)
        h = d.digest()
        self.new_nodes[h] = _INTERNAL_HEAD + left + _BIN32 + right
        return h

    def update(self, node: bytes, depth: int, lo: int, hi: int) -> tuple[bytes, int]:
        """New (hash, kind) of the subtree at `node` after writes[lo:hi] (all below it)."""
        keys, vals = self.keys, self.vals
        if node == EMPTY_HASH:
            ks = [keys[i] for i in range(lo, hi) if vals[i] is not None]
            vs = [vals[i] for i in range(lo, hi) if vals[i] is not None]
            return self.build(ks, vs, 0, len(ks), depth)
        tag, a, b = self.tree._load(node)
        if tag == LEAF_TAG:
            return self._merge_leaf(node, a, b, depth, lo, hi)
        mid = self._split(keys, lo, hi, depth)
        if lo < mid:
            left, lkind = self.update(a, depth + 1, lo, mid)
        else:
            left, lkind = a, -1
        if mid < hi:
            right, rkind = self.update(b, depth + 1, mid, hi)
        else:
            right, rkind = b, -1
        if left == a and right == b:
            return node, _INTERNAL
        # an internal node never moves (only single leaves are lifted), so it is gone
        self.stale.add(node)
        if left == EMPTY_HASH and right == EMPTY_HASH:
            return EMPTY_HASH, _EMPTY
        # A subtree holding a single leaf is that leaf: lift it past the now-empty sibling.
        if left == EMPTY_HASH and self._kind(right, rkind) == _LEAF:
            return right, _LEAF
        if right == EMPTY_HASH and self._kind(left, lkind) == _LEAF:
            return left, _LEAF
        return self._internal(left, right), _INTERNAL

    def _kind(self, node: bytes, known: int) -> int:
        if known >= 0:
            return known
        if node == EMPTY_HASH:
            return _EMPTY
        return _LEAF if self.tree._load(node)[0] == LEAF_TAG else _INTERNAL

    def _merge_leaf(
        self, node: bytes, key: bytes, value: bytes, depth: int, lo: int, hi: int
    ) -> tuple[bytes, int]:
        keys, vals = self.keys, self.vals
        ks: list[bytes] = []
        vs: list[bytes] = []
        kept = True  # no write names the existing leaf's key
        survives = True  # the existing leaf node is part of the result
        for i in range(lo, hi):
            k, v = keys[i], vals[i]
            if k == key:
                kept = False
                survives = v == value
            if v is not None:
                ks.append(k)
                vs.append(v)
        if kept:
            pos = bisect.bisect_left(ks, key)
            ks.insert(pos, key)
            vs.insert(pos, value)
        if len(ks) == 1 and ks[0] == key and vs[0] == value:
            return node, _LEAF  # nothing changed here: emit no node
        if survives:  # the rebuilt subtree holds the old leaf, which the store has
            self._keep = (key, value, node)
            try:
                return self.build(ks, vs, 0, len(ks), depth)
            finally:
                self._keep = None
        self.stale.add(node)
        return self.build(ks, vs, 0, len(ks), depth)

    def build(
        self, ks: list[bytes], vs: list, lo: int, hi: int, depth: int
    ) -> tuple[bytes, int]:
        """Fresh subtree at `depth` for sorted, distinct ks[lo:hi] (no deletes)."""
        n = hi - lo
        if n == 0:
            return EMPTY_HASH, _EMPTY
        if n == 1:
            keep = self._keep
            if keep is not None and ks[lo] == keep[0] and vs[lo] == keep[1]:
                return keep[2], _LEAF
            return self._leaf(ks[lo], vs[lo]), _LEAF
        # Skip the bits every key here shares, then hang the split under a one-sided chain.
        split = _common_prefix_bits(ks[lo], ks[hi - 1])
        mid = self._split(ks, lo, hi, split)
        left, _ = self.build(ks, vs, lo, mid, split + 1)
        right, _ = self.build(ks, vs, mid, hi, split + 1)
        h = self._internal(left, right)
        first = ks[lo]
        for d in range(split - 1, depth - 1, -1):
            h = self._internal(EMPTY_HASH, h) if _bit(first, d) else self._internal(h, EMPTY_HASH)
        return h, _INTERNAL


# -- proofs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtProof:
    """Path from the root towards key_hash, for inclusion or non-inclusion.

    `siblings[i]` is the hash beside the path at depth i (root first). The path ends in
    `leaf` = (key_hash, value_hash) of the leaf found there, or in an empty subtree when leaf
    is None. It proves inclusion when the leaf's key is the queried key, non-inclusion when
    the path ends empty or in a leaf with another key that shares the path.
    """

    leaf: tuple[bytes, bytes] | None
    siblings: tuple[bytes, ...]

    def to_wire(self) -> list:
        """[version, [] | [leaf_key, leaf_value_hash], [sibling...]]; empty siblings as b""."""
        leaf = [] if self.leaf is None else [self.leaf[0], self.leaf[1]]
        sibs = [b"" if s == EMPTY_HASH else s for s in self.siblings]
        return [PROOF_VERSION, leaf, sibs]

    @classmethod
    def from_wire(cls, w: object) -> SmtProof:
        if not isinstance(w, list) or len(w) != 3:
            raise ValueError("SMT proof must be a 3-element list")
        version, leaf, sibs = w
        if type(version) is not int or version != PROOF_VERSION:
            raise ValueError("unsupported SMT proof version")
        if not isinstance(leaf, list) or len(leaf) not in (0, 2):
            raise ValueError("SMT proof leaf must be [] or [key_hash, value_hash]")
        for part in leaf:
            if type(part) is not bytes or len(part) != HASH_LEN:
                raise ValueError("SMT proof leaf fields must be 32 bytes")
        if not isinstance(sibs, list) or len(sibs) > KEY_BITS:
            raise ValueError("SMT proof siblings must be a list of at most 256 hashes")
        siblings = []
        for s in sibs:
            if type(s) is not bytes:
                raise ValueError("SMT proof sibling must be bytes")
            if s == b"":
                siblings.append(EMPTY_HASH)
            elif len(s) == HASH_LEN and s != EMPTY_HASH:
                siblings.append(s)
            else:  # one encoding per proof: the empty hash travels only as b""
                raise ValueError("SMT proof sibling must be b'' or a non-empty 32-byte hash")
        return cls(leaf=None if not leaf else (leaf[0], leaf[1]), siblings=tuple(siblings))


def _is_hash(value: object) -> bool:
    return type(value) is bytes and len(value) == HASH_LEN


def verify_proof(
    root: bytes, key_hash: bytes, value_hash: bytes | None, proof: SmtProof
) -> bool:
    """True iff `proof` shows key_hash -> value_hash (None: key absent) in the tree at root.

    Never raises on bad input: anything malformed is simply not a proof.
    """
    try:
        return _verify(root, key_hash, value_hash, proof)
    except Exception:  # noqa: BLE001 - a verifier answers yes or no, never crashes the caller
        return False


def _verify(root: bytes, key_hash: bytes, value_hash: bytes | None, proof: SmtProof) -> bool:
    if not (_is_hash(root) and _is_hash(key_hash) and isinstance(proof, SmtProof)):
        return False
    if value_hash is not None and not _is_hash(value_hash):
        return False
    siblings = proof.siblings
    if not isinstance(siblings, tuple) or len(siblings) > KEY_BITS:
        return False
    if not all(_is_hash(s) for s in siblings):
        return False
    n = len(siblings)
    leaf = proof.leaf
    if leaf is None:
        if value_hash is not None:
            return False
        current = EMPTY_HASH
    else:
        if not (isinstance(leaf, tuple) and len(leaf) == 2):
            return False
        lkey, lval = leaf
        if not (_is_hash(lkey) and _is_hash(lval)):
            return False
        if value_hash is None:
            # Absent key: the path must end at some other key's leaf on this very path.
            if lkey == key_hash or _common_prefix_bits(lkey, key_hash) < n:
                return False
        elif lkey != key_hash or lval != value_hash:
            return False
        current = leaf_hash(lkey, lval)
    # A canonical tree never pairs a leaf or an empty subtree with an empty sibling.
    if n and siblings[-1] == EMPTY_HASH:
        return False
    for depth in range(n - 1, -1, -1):
        s = siblings[depth]
        current = internal_hash(s, current) if _bit(key_hash, depth) else internal_hash(current, s)
    return current == root


# -- measurement -------------------------------------------------------------------------------


def bench(batch: int = 1000, base: int = 10_000, rounds: int = 5) -> dict[str, float]:
    """Milliseconds for one `batch`-key update on an empty and on a `base`-key tree (best of)."""
    import os
    import time

    def rand_writes(n: int) -> dict[bytes, bytes | None]:
        return {os.urandom(HASH_LEN): os.urandom(HASH_LEN) for _ in range(n)}

    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    base_root, nodes = tree.update(EMPTY_ROOT, rand_writes(base))
    store.put_nodes(nodes)
    results: dict[str, float] = {}
    for name, root in (("empty", EMPTY_ROOT), (f"{base}-key", base_root)):
        best = float("inf")
        for _ in range(rounds):
            writes = rand_writes(batch)
            t0 = time.perf_counter()
            tree.update(root, writes)
            best = min(best, time.perf_counter() - t0)
        results[f"update {batch} keys on {name} tree (ms)"] = best * 1000
    probe = next(iter(tree.items(base_root)))[0]
    t0 = time.perf_counter()
    for _ in range(1000):
        p = tree.prove(base_root, probe)
    results["prove (us)"] = (time.perf_counter() - t0) * 1000
    v = tree.get(base_root, probe)
    t0 = time.perf_counter()
    for _ in range(1000):
        verify_proof(base_root, probe, v, p)
    results["verify (us)"] = (time.perf_counter() - t0) * 1000
    results["proof wire bytes"] = len(codec.encode(p.to_wire()))
    return results


if __name__ == "__main__":
    for label, value in bench().items():
        print(f"{label}: {value:.1f}")
