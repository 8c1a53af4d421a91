"""Sparse Merkle tree: model-based properties, proofs, tampering, deep splits, wire format."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainnode import codec
from chainnode.crypto.hashing import sm3
from chainnode.store.smt import (
    EMPTY_HASH,
    EMPTY_ROOT,
    MemoryNodeStore,
    MissingNodeError,
    SmtProof,
    SparseMerkleTree,
    decode_node,
    encode_node,
    internal_hash,
    leaf_hash,
    verify_proof,
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def h(i: int) -> bytes:
    return sm3(b"k%d" % i)


def key_with_bits(prefix_bits: str, tail: int = 0) -> bytes:
    """A 256-bit key whose leading bits are `prefix_bits`, the rest from `tail`."""
    rest = 256 - len(prefix_bits)
    value = (int(prefix_bits, 2) << rest) | (tail & ((1 << rest) - 1)) if prefix_bits else tail
    return value.to_bytes(32, "big")


# A small key pool so random operations collide (overwrites, deletes of present keys), mixed
# with crafted keys that share long prefixes so splits happen deep in the tree.
_DEEP = [
    key_with_bits("0" * 255 + "0"),
    key_with_bits("0" * 255 + "1"),
    key_with_bits("0" * 254 + "10"),
    key_with_bits("1" * 200, 5),
    key_with_bits("1" * 200, 6),
    key_with_bits("1" * 100 + "0", 7),
]
POOL = [h(i) for i in range(24)] + _DEEP
VALUES = [sm3(b"v%d" % i) for i in range(6)]

op_st = st.tuples(st.sampled_from(POOL), st.one_of(st.none(), st.sampled_from(VALUES)))


def fresh() -> tuple[MemoryNodeStore, SparseMerkleTree]:
    store = MemoryNodeStore()
    return store, SparseMerkleTree(store)


def apply(store, tree, root, writes):
    root, nodes = tree.update(root, writes)
    store.put_nodes(nodes)
    return root


def model_root(model: dict[bytes, bytes]) -> bytes:
    store, tree = fresh()
    return apply(store, tree, EMPTY_ROOT, dict(model))


def chunked(ops, cuts):
    """Split ops at the given cut points; each chunk becomes one write batch (last wins)."""
    bounds = sorted({c % (len(ops) + 1) for c in cuts} | {0, len(ops)})
    return [dict(ops[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def reachable_nodes(store: MemoryNodeStore, root: bytes) -> set[bytes]:
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        n = stack.pop()
        if n == EMPTY_HASH:
            continue
        seen.add(n)
        tag, a, b = decode_node(store.get_node(n))
        if tag == 1:
            stack += [a, b]
    return seen


# -- model-based properties ----------------------------------------------------------------------


@SETTINGS
@given(ops=st.lists(op_st, max_size=40), cuts=st.lists(st.integers(0, 40), max_size=6))
def test_any_batching_gives_the_root_of_the_final_map(ops, cuts):
    model: dict[bytes, bytes] = {}
    for k, v in ops:
        if v is None:
            model.pop(k, None)
        else:
            model[k] = v
    expected = model_root(model)

    store, tree = fresh()
    one_by_one = EMPTY_ROOT
    for k, v in ops:
        one_by_one = apply(store, tree, one_by_one, {k: v})
    all_at_once = apply(store, tree, EMPTY_ROOT, dict(ops))
    in_chunks = EMPTY_ROOT
    for chunk in chunked(ops, cuts):
        in_chunks = apply(store, tree, in_chunks, chunk)

    assert one_by_one == all_at_once == in_chunks == expected
    assert (expected == EMPTY_ROOT) == (not model)
    for k in POOL:
        assert tree.get(expected, k) == model.get(k)
    assert list(tree.items(expected)) == sorted(model.items())


@SETTINGS
@given(ops=st.lists(op_st, min_size=1, max_size=40))
def test_deleting_everything_returns_the_empty_root(ops):
    store, tree = fresh()
    root = apply(store, tree, EMPTY_ROOT, dict(ops))
    present = [k for k in POOL if tree.get(root, k) is not None]
    for k in present[::2]:  # some one at a time, the rest in one batch
        root = apply(store, tree, root, {k: None})
    root = apply(store, tree, root, {k: None for k in present[1::2]})
    assert root == EMPTY_ROOT


@SETTINGS
@given(
    base=st.dictionaries(st.sampled_from(POOL), st.sampled_from(VALUES), max_size=20),
    batch=st.lists(op_st, max_size=20),
)
def test_write_order_and_old_nodes(base, batch):
    store, tree = fresh()
    root = apply(store, tree, EMPTY_ROOT, base)
    writes = dict(batch)
    before = dict(store.nodes)
    new_root, new_nodes = tree.update(root, writes)
    assert store.nodes == before  # update only returns nodes; persisting is the caller's job
    rev_root, rev_nodes = tree.update(root, dict(reversed(list(writes.items()))))
    assert (rev_root, rev_nodes) == (new_root, new_nodes)
    # Every returned node is content-addressed, part of the new tree and not of the old one.
    old_reachable = reachable_nodes(store, root)
    store.put_nodes(new_nodes)
    reachable = reachable_nodes(store, new_root)
    for node_hash, enc in new_nodes.items():
        tag, a, b = decode_node(enc)
        assert node_hash == (leaf_hash(a, b) if tag == 0 else internal_hash(a, b))
        assert node_hash in reachable
        assert node_hash not in old_reachable
    assert reachable <= old_reachable | set(new_nodes)
    if all(base.get(k) == v for k, v in writes.items()):
        assert new_root == root and new_nodes == {}


@SETTINGS
@given(chunks=st.lists(st.lists(op_st, max_size=10), min_size=1, max_size=6))
def test_old_roots_stay_queryable_and_provable(chunks):
    store, tree = fresh()
    root = EMPTY_ROOT
    history = [(root, {})]
    model: dict[bytes, bytes] = {}
    for chunk in chunks:
        writes = dict(chunk)
        root = apply(store, tree, root, writes)
        for k, v in writes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        history.append((root, dict(model)))
    for old_root, snapshot in history:
        assert old_root == model_root(snapshot)
        for k in POOL:
            assert tree.get(old_root, k) == snapshot.get(k)
            assert verify_proof(old_root, k, snapshot.get(k), tree.prove(old_root, k))


# -- proofs --------------------------------------------------------------------------------------


@SETTINGS
@given(model=st.dictionaries(st.sampled_from(POOL), st.sampled_from(VALUES), max_size=24))
def test_proofs_verify_and_reject_wrong_claims(model):
    store, tree = fresh()
    root = apply(store, tree, EMPTY_ROOT, model)
    other_root = model_root({**model, h(999): VALUES[0]})
    for k in POOL:
        v = model.get(k)
        proof = tree.prove(root, k)
        assert verify_proof(root, k, v, proof)
        assert (proof.leaf is not None and proof.leaf[0] == k) == (v is not None)
        assert not verify_proof(other_root, k, v, proof)
        for wrong in VALUES + [None]:
            if wrong != v:
                assert not verify_proof(root, k, wrong, proof)
        # Soundness: a proof verifies for another key only if the claim is true there.
        for k2 in POOL:
            for claim in (v, model.get(k2)):
                if verify_proof(root, k2, claim, proof):
                    assert model.get(k2) == claim
        wire = codec.encode(proof.to_wire())
        again = SmtProof.from_wire(codec.decode(wire))
        assert again == proof
        assert verify_proof(root, k, v, again)


@settings(max_examples=25, deadline=None)
@given(
    model=st.dictionaries(st.sampled_from(POOL), st.sampled_from(VALUES), min_size=1, max_size=24),
    key=st.sampled_from(POOL),
    mask=st.integers(1, 255),
)
def test_tampering_any_byte_breaks_the_proof(model, key, mask):
    store, tree = fresh()
    root = apply(store, tree, EMPTY_ROOT, model)
    value = model.get(key)
    proof = tree.prove(root, key)
    assert verify_proof(root, key, value, proof)

    wire = codec.encode(proof.to_wire())
    for i in range(len(wire)):
        bad = bytearray(wire)
        bad[i] ^= mask
        try:
            tampered = SmtProof.from_wire(codec.decode(bytes(bad)))
        except ValueError:
            continue
        assert tampered != proof
        assert not verify_proof(root, key, value, tampered)

    for i in range(32):
        bad_root = bytearray(root)
        bad_root[i] ^= mask
        assert not verify_proof(bytes(bad_root), key, value, proof)

        bad_key = bytearray(key)
        bad_key[i] ^= mask
        bad_key = bytes(bad_key)
        if verify_proof(root, bad_key, value, proof):
            # Only possible for a non-inclusion proof whose empty path the new key also takes.
            assert value is None and bad_key not in model

        if value is not None:
            bad_value = bytearray(value)
            bad_value[i] ^= mask
            assert not verify_proof(root, key, bytes(bad_value), proof)
        else:
            assert not verify_proof(root, key, sm3(bytes([i, mask])), proof)

    # Any change to a key bit on the proven path is always caught.
    for depth in range(len(proof.siblings)):
        flipped = int.from_bytes(key, "big") ^ (1 << (255 - depth))
        assert not verify_proof(root, flipped.to_bytes(32, "big"), value, proof)


@SETTINGS
@given(
    model=st.dictionaries(st.sampled_from(POOL), st.sampled_from(VALUES), min_size=2, max_size=24),
    key=st.sampled_from(POOL),
    extra=st.sampled_from([EMPTY_HASH, sm3(b"x")]),
)
def test_truncated_or_extended_siblings_are_rejected(model, key, extra):
    store, tree = fresh()
    root = apply(store, tree, EMPTY_ROOT, model)
    value = model.get(key)
    proof = tree.prove(root, key)
    sibs = proof.siblings
    variants = [sibs + (extra,), (extra,) + sibs]
    if sibs:
        variants += [sibs[1:], sibs[:-1], sibs[:-1] + (extra,), (extra,) + sibs[1:]]
    for v in variants:
        if v == sibs:
            continue
        assert not verify_proof(root, key, value, SmtProof(proof.leaf, v))
    # Swapping the leaf kind is caught too.
    if proof.leaf is None:
        assert not verify_proof(root, key, None, SmtProof((h(500), VALUES[0]), sibs))
    else:
        assert not verify_proof(root, key, value, SmtProof(None, sibs))


def test_both_kinds_of_non_inclusion():
    store, tree = fresh()
    a = key_with_bits("00", 1)
    b = key_with_bits("01", 2)
    c = key_with_bits("1", 3)
    root = apply(store, tree, EMPTY_ROOT, {a: VALUES[0], b: VALUES[1]})
    # Path of c ends in the empty right subtree of the root.
    p = tree.prove(root, c)
    assert p.leaf is None and p.siblings == (internal_hash(leaf_hash(a, VALUES[0]),
                                                            leaf_hash(b, VALUES[1])),)
    assert verify_proof(root, c, None, p)
    # Path of d ends at a's leaf, which holds a different key.
    d = key_with_bits("00", 99)
    p = tree.prove(root, d)
    assert p.leaf == (a, VALUES[0]) and len(p.siblings) == 2
    assert verify_proof(root, d, None, p)
    assert not verify_proof(root, d, VALUES[0], p)
    # The same leaf cannot be used for a key that leaves its path early.
    e = key_with_bits("01", 99)
    assert not verify_proof(root, e, None, p)
    # Empty tree: zero siblings, no leaf.
    p = tree.prove(EMPTY_ROOT, a)
    assert p == SmtProof(None, ())
    assert verify_proof(EMPTY_ROOT, a, None, p)
    assert not verify_proof(EMPTY_ROOT, a, VALUES[0], p)


# -- hashing rules and layout --------------------------------------------------------------------


def test_hashing_rules_known_answers():
    k0, k1, v = key_with_bits("0", 1), key_with_bits("1", 1), VALUES[0]
    assert EMPTY_ROOT == bytes(32)
    assert leaf_hash(k0, v) == sm3(b"\x00" + k0 + v)
    assert internal_hash(k0, k1) == sm3(b"\x01" + k0 + k1)
    store, tree = fresh()
    single = apply(store, tree, EMPTY_ROOT, {k0: v})
    assert single == leaf_hash(k0, v)  # a lone leaf sits at the root
    pair = apply(store, tree, EMPTY_ROOT, {k0: v, k1: v})
    assert pair == sm3(b"\x01" + leaf_hash(k0, v) + leaf_hash(k1, v))
    # Keys sharing their first bit hang under a left-only chain of depth 1.
    k01 = key_with_bits("01", 1)
    three = apply(store, tree, EMPTY_ROOT, {k0: v, k01: v})
    assert three == internal_hash(internal_hash(leaf_hash(k0, v), leaf_hash(k01, v)), EMPTY_HASH)


def test_deep_splits_with_long_common_prefixes():
    store, tree = fresh()
    a, b = key_with_bits("0" * 255 + "0"), key_with_bits("0" * 255 + "1")
    c = key_with_bits("1" * 128, 1)
    d = key_with_bits("1" * 128, 2)
    root = apply(store, tree, EMPTY_ROOT, {a: VALUES[0], b: VALUES[1], c: VALUES[2]})
    assert len(tree.prove(root, a).siblings) == 256
    assert len(tree.prove(root, c).siblings) == 1
    # Inserting d splits c's leaf 254 levels deeper (c and d differ only in bit 254).
    root2 = apply(store, tree, root, {d: VALUES[3]})
    assert len(tree.prove(root2, d).siblings) == 255
    for k, v in {a: VALUES[0], b: VALUES[1], c: VALUES[2], d: VALUES[3]}.items():
        assert tree.get(root2, k) == v
        assert verify_proof(root2, k, v, tree.prove(root2, k))
    # Non-inclusion deep down the shared prefix: e leaves c and d's path at bit 128.
    e = key_with_bits("1" * 200 + "0", 7)
    pe = tree.prove(root2, e)
    assert pe.leaf is None and len(pe.siblings) == 129
    assert verify_proof(root2, e, None, pe)
    # Deleting b lifts a from depth 256 to depth 1, right under the root.
    root3 = apply(store, tree, root2, {b: None})
    pa = tree.prove(root3, a)
    assert pa == SmtProof((a, VALUES[0]), (_right_child(store, root3),))
    assert root3 == model_root({a: VALUES[0], c: VALUES[2], d: VALUES[3]})
    # Deleting c and d lifts a to the root.
    root4 = apply(store, tree, root3, {c: None, d: None})
    assert root4 == leaf_hash(a, VALUES[0])
    assert apply(store, tree, root4, {a: None}) == EMPTY_ROOT
    # Old deep roots are untouched.
    assert tree.get(root2, b) == VALUES[1]


def _right_child(store: MemoryNodeStore, root: bytes) -> bytes:
    tag, _, right = decode_node(store.get_node(root))
    assert tag == 1
    return right


def test_node_encoding_is_canonical_codec():
    k, v = h(1), h(2)
    for tag in (0, 1):
        enc = encode_node(tag, k, v)
        assert enc == codec.encode([tag, k, v])
        assert codec.decode(enc) == [tag, k, v]
        assert decode_node(enc) == (tag, k, v)
    for bad in (b"", codec.encode([2, k, v]), codec.encode([0, k, v[:31]]),
                codec.encode([0, k, v]) + b"\x00", codec.encode([0, k])):
        with pytest.raises(ValueError):
            decode_node(bad)


# -- wire format and input validation -----------------------------------------------------------


def test_wire_format_shape_and_empty_sibling_compression():
    p = SmtProof(leaf=(h(1), h(2)), siblings=(EMPTY_HASH, h(3)))
    assert p.to_wire() == [1, [h(1), h(2)], [b"", h(3)]]
    assert SmtProof.from_wire(p.to_wire()) == p
    assert SmtProof(None, ()).to_wire() == [1, [], []]


@pytest.mark.parametrize(
    "wire",
    [
        None,
        [],
        [1, [], []][:2],
        [2, [], []],
        [True, [], []],
        ["1", [], []],
        [1, [h(1)], []],
        [1, [h(1), h(2)[:31]], []],
        [1, [h(1), "x" * 32], []],
        [1, None, []],
        [1, [], None],
        [1, [], [h(1)[:31]]],
        [1, [], [bytes(32)]],  # the empty hash must travel as b""
        [1, [], ["x" * 32]],
        [1, [], [h(1)] * 257],
        [1, [], [], 0],
    ],
)
def test_from_wire_rejects_malformed(wire):
    with pytest.raises(ValueError):
        SmtProof.from_wire(wire)


def test_verify_never_raises_on_junk():
    store, tree = fresh()
    k = h(1)
    root = apply(store, tree, EMPTY_ROOT, {k: VALUES[0], h(2): VALUES[1]})
    good = tree.prove(root, k)
    junk_proofs = [
        None,
        "proof",
        SmtProof(leaf=("a", "b"), siblings=good.siblings),  # type: ignore[arg-type]
        SmtProof(leaf=(k,), siblings=good.siblings),  # type: ignore[arg-type]
        SmtProof(leaf=good.leaf, siblings=[*good.siblings]),  # type: ignore[arg-type]
        SmtProof(leaf=good.leaf, siblings=(None,)),  # type: ignore[arg-type]
        SmtProof(leaf=good.leaf, siblings=(h(3),) * 300),
    ]
    for p in junk_proofs:
        assert verify_proof(root, k, VALUES[0], p) is False  # type: ignore[arg-type]
    for args in [(None, k, VALUES[0]), (root, None, VALUES[0]), (root, k, b"short"),
                 (root[:31], k, VALUES[0]), (root, k, 5)]:
        assert verify_proof(*args, good) is False  # type: ignore[arg-type]
    assert verify_proof(root, k, VALUES[0], good) is True


def test_update_rejects_bad_keys_and_values():
    _, tree = fresh()
    for writes in ({b"short": h(1)}, {h(1): b"short"}, {"k" * 32: h(1)}, {h(1): 5}):
        with pytest.raises(ValueError):
            tree.update(EMPTY_ROOT, writes)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tree.update(b"x", {h(1): h(2)})
    assert tree.update(EMPTY_ROOT, {}) == (EMPTY_ROOT, {})
    assert tree.update(EMPTY_ROOT, {h(1): None}) == (EMPTY_ROOT, {})


def test_missing_nodes_are_reported():
    store, tree = fresh()
    root, nodes = tree.update(EMPTY_ROOT, {h(1): VALUES[0], h(2): VALUES[1]})
    # Nothing persisted yet: reading the new root must fail loudly, not return "absent".
    with pytest.raises(MissingNodeError):
        tree.get(root, h(1))
    with pytest.raises(MissingNodeError):
        tree.prove(root, h(3))
    with pytest.raises(MissingNodeError):
        tree.update(root, {h(3): VALUES[2]})
    store.put_nodes(nodes)
    assert tree.get(root, h(1)) == VALUES[0]


def test_no_op_writes_create_no_nodes():
    store, tree = fresh()
    model = {k: VALUES[i % len(VALUES)] for i, k in enumerate(POOL[:20])}
    root = apply(store, tree, EMPTY_ROOT, model)
    absent = [k for k in POOL if k not in model]
    same = {k: model[k] for k in POOL[:20:3]}
    assert tree.update(root, same) == (root, {})
    assert tree.update(root, dict.fromkeys(absent)) == (root, {})
    assert tree.update(root, {**same, **dict.fromkeys(absent)}) == (root, {})


def test_verifier_enforces_placement_rules_on_its_own():
    """Rules a proof from a canonical tree always meets; checked so the verifier does not
    depend on the prover's tree being well formed."""
    a = key_with_bits("0", 1)  # a's path starts left
    e = key_with_bits("1", 2)
    va = VALUES[0]
    other = sm3(b"other subtree")
    # a's leaf misplaced on the right: it must not prove e absent.
    misplaced = internal_hash(other, leaf_hash(a, va))
    assert not verify_proof(misplaced, e, None, SmtProof((a, va), (other,)))
    # A leaf next to an empty sibling would have been lifted: not a canonical path.
    unlifted = internal_hash(leaf_hash(a, va), EMPTY_HASH)
    assert not verify_proof(unlifted, a, va, SmtProof((a, va), (EMPTY_HASH,)))
    both_empty = internal_hash(EMPTY_HASH, EMPTY_HASH)
    assert not verify_proof(both_empty, a, None, SmtProof(None, (EMPTY_HASH,)))


def test_building_from_the_empty_root_reads_no_nodes():
    """Rebuilding a root from raw values (crash checks, genesis) needs no node store."""

    class NoNodes:
        def get_node(self, node_hash: bytes) -> bytes | None:
            raise AssertionError("update from EMPTY_ROOT must not read nodes")

    model = {k: VALUES[i % len(VALUES)] for i, k in enumerate(POOL)}
    root, nodes = SparseMerkleTree(NoNodes()).update(EMPTY_ROOT, {**model, h(77): None})
    assert root == model_root(model)
    assert len(nodes) == len(reachable_nodes(MemoryNodeStore(nodes), root))


@SETTINGS
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True),
       st.integers(0, 255), st.integers(0, 7))
def test_split_is_the_first_key_with_a_one_bit(raw, depth, spread):
    """_Update._split bisects on a pivot key instead of each key's bit: for sorted keys that
    share their first `depth` bits it must land exactly where the bit turns from 0 to 1."""
    from chainnode.store.smt import _bit, _Update

    prefix = int.from_bytes(raw[0], "big") >> (256 - depth) if depth else 0
    keys = sorted({((prefix << (256 - depth)) | (int.from_bytes(k, "big")
                                                 & ((1 << (256 - depth)) - 1)))
                   .to_bytes(32, "big") for k in raw})
    op = _Update(SparseMerkleTree(MemoryNodeStore()), keys, [None] * len(keys))
    for lo in range(0, min(len(keys), spread + 1)):
        hi = len(keys)
        want = next((i for i in range(lo, hi) if _bit(keys[i], depth)), hi)
        assert op._split(keys, lo, hi, depth) == want
    assert op._split(keys, len(keys), len(keys), depth) == len(keys)
