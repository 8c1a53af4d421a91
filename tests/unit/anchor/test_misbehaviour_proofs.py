"""Misbehaviour evidence and proofs against anchored headers (pure functions, real SM2)."""

from __future__ import annotations

import dataclasses
import os

import pytest
from lc_util import EdgeChain, sign_cert, vhash, vset

from chainnode import codec
from chainnode.anchor import errors as E
from chainnode.anchor import misbehaviour, proofs
from chainnode.anchor.errors import AnchorError
from chainnode.anchor.lightclient import ConsensusState
from chainnode.core.block import Receipt, receipt_root
from chainnode.crypto.hashing import sm3
from chainnode.crypto.merkle import merkle_proof
from chainnode.store.db import state_key_hash
from chainnode.store.smt import EMPTY_ROOT, MemoryNodeStore, SparseMerkleTree

FOUR = [0, 1, 2, 3]


def refused(code, fn, *args):
    with pytest.raises(AnchorError) as info:
        fn(*args)
    assert info.value.code == code, info.value


@pytest.fixture(scope="module")
def forks():
    a, b = EdgeChain(), EdgeChain()
    a.grow(3, FOUR)
    b.grow(3, FOUR, fork=b"B")  # same keys sign another history from height 1 on
    return a, b


def item(e: EdgeChain, h: int, ids=None) -> list:
    ids = ids or e.sets[h]
    return [e.wire(h), sign_cert(e.headers[h], ids), vset(ids)]


def test_two_certified_headers_for_one_height_are_a_fork(forks):
    a, b = forks
    client = a.client(1)
    spent = []
    v = misbehaviour.check(client, lambda h: vhash(FOUR), lambda h: None,
                           [item(a, 2), item(b, 2)], spent.append)
    assert v.kind == "fork" and v.frozen_height == 2 and sum(spent) > 0
    v2 = misbehaviour.check(client, lambda h: vhash(FOUR), lambda h: None,
                            [item(b, 2), item(a, 2)], lambda g: None)
    assert v2.evidence_hash == v.evidence_hash  # order does not matter


def test_one_header_conflicting_with_the_anchored_one(forks):
    a, b = forks
    anchored = {2: ConsensusState.of(a.headers[2])}
    v = misbehaviour.check(a.client(1), lambda h: vhash(FOUR), anchored.get, [item(b, 2)],
                           lambda g: None)
    assert v.kind == "conflicts-anchored"
    refused(E.BAD_EVIDENCE, misbehaviour.check, a.client(1), lambda h: vhash(FOUR), anchored.get,
            [item(a, 2)], lambda g: None)


def test_time_going_backwards_is_misbehaviour(forks):
    a, _ = forks
    h3 = dataclasses.replace(a.headers[3], timestamp_ms=a.headers[2].timestamp_ms - 1)
    ev = [item(a, 2), [h3.to_wire(), sign_cert(h3, FOUR), vset(FOUR)]]
    v = misbehaviour.check(a.client(1), lambda h: vhash(FOUR), lambda h: None, ev, lambda g: None)
    assert v.kind == "time" and v.frozen_height == 2
    refused(E.BAD_EVIDENCE, misbehaviour.check, a.client(1), lambda h: vhash(FOUR), lambda h: None,
            [item(a, 2), item(a, 3)], lambda g: None)


def test_evidence_must_be_certified_by_a_trusted_set(forks):
    a, _ = forks
    rogue = EdgeChain()
    rogue.grow(2, [8, 9, 10, 11])  # keys the client never trusted
    refused(E.VALSET_MISMATCH, misbehaviour.check, a.client(1), lambda h: vhash(FOUR),
            lambda h: None, [item(a, 2), item(rogue, 2)], lambda g: None)
    weak = item(a, 2)
    weak[1] = sign_cert(a.headers[2], FOUR, [0, 1])
    refused(E.NO_QUORUM, misbehaviour.check, a.client(1), lambda h: vhash(FOUR), lambda h: None,
            [weak, item(forks[1], 2)], lambda g: None)


# -- proofs ------------------------------------------------------------------------------------


def _cons(state_root=EMPTY_ROOT, receipt_root_=bytes(32)) -> ConsensusState:
    return ConsensusState(9, bytes(32), state_root, bytes(32), receipt_root_, 1, bytes(32),
                          bytes(32))


@pytest.fixture(scope="module")
def tree():
    store = MemoryNodeStore()
    smt = SparseMerkleTree(store)
    writes = {state_key_hash("sys.anchor", codec.encode(["k", i])): sm3(codec.encode(i))
              for i in range(200)}
    root, nodes = smt.update(EMPTY_ROOT, writes)
    store.put_nodes(nodes)
    return smt, root


def _key(i) -> bytes:
    return codec.encode(["k", i])


def _proof(smt, root, key: bytes) -> bytes:
    return codec.encode(smt.prove(root, state_key_hash("sys.anchor", key)).to_wire())


def test_state_membership_and_a_forged_state_proof(tree):
    smt, root = tree
    cons = _cons(root)
    p = _proof(smt, root, _key(7))
    proofs.verify_state(cons, "sys.anchor", _key(7), codec.encode(7), p)
    refused(E.BAD_STATE_PROOF, proofs.verify_state, cons, "sys.anchor", _key(7),
            codec.encode(8), p)  # another value
    refused(E.BAD_STATE_PROOF, proofs.verify_state, cons, "sys.other", _key(7),
            codec.encode(7), p)  # another contract's key
    w = codec.decode(p)
    w[2][0] = os.urandom(32)  # a tampered sibling
    refused(E.BAD_STATE_PROOF, proofs.verify_state, cons, "sys.anchor", _key(7),
            codec.encode(7), codec.encode(w))
    refused(E.BAD_STATE_PROOF, proofs.verify_state, cons, "sys.anchor", _key(7),
            codec.encode(7), b"\x01garbage")


def test_absence_and_false_non_membership_proofs(tree):
    smt, root = tree
    cons = _cons(root)
    proofs.verify_absent(cons, "sys.anchor", _key(999), _proof(smt, root, _key(999)))
    # a membership proof of a present key, offered as its absence: the leaf found IS the key
    refused(E.BAD_ABSENCE_PROOF, proofs.verify_absent, cons, "sys.anchor", _key(7),
            _proof(smt, root, _key(7)))
    # another key's leaf whose path the queried key does not share
    for other in range(200):
        w = codec.decode(_proof(smt, root, _key(other)))
        kh = state_key_hash("sys.anchor", _key(7))
        if w[1] and w[1][0] != kh and w[1][0][0] >> 7 != kh[0] >> 7:
            refused(E.BAD_ABSENCE_PROOF, proofs.verify_absent, cons, "sys.anchor", _key(7),
                    codec.encode(w))
            break
    else:  # pragma: no cover
        pytest.fail("no leaf on the other half of the tree")
    # the absence proof of another absent key does not prove this one's absence either
    refused(E.BAD_ABSENCE_PROOF, proofs.verify_absent, cons, "sys.anchor", _key(7),
            _proof(smt, root, _key(999)))


def test_receipt_proof_and_a_forged_receipt_proof():
    rcs = [Receipt(sm3(bytes([i])), 0, 10 + i, i, (("c", "Ev", {"i": i}),)) for i in range(5)]
    cons = _cons(receipt_root_=receipt_root(rcs))
    leaves = [r.encode() for r in rcs]
    path = merkle_proof(leaves, 3)
    got = proofs.verify_receipt(cons, leaves[3], path)
    assert got.events[0][2] == {"i": 3}
    forged = Receipt(rcs[3].tx_hash, 0, 13, 3, (("c", "Ev", {"i": 999}),)).encode()
    refused(E.BAD_RECEIPT_PROOF, proofs.verify_receipt, cons, forged, path)
    refused(E.BAD_RECEIPT_PROOF, proofs.verify_receipt, cons, leaves[3], merkle_proof(leaves, 2))
    refused(E.BAD_RECEIPT_PROOF, proofs.verify_receipt, cons, leaves[3], [[0, b"x"]] * 65)

