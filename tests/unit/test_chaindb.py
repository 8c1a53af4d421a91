"""ChainDB: one synced, all-or-nothing batch per block; a head that moves; a state root that
can be rebuilt from the stored values alone; everything survives close and reopen."""

from __future__ import annotations

import secrets

import pytest

from chainnode import codec
from chainnode.chain import Chain
from chainnode.core.block import Block, BlockHeader, Receipt
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec.executor import InvalidBlock
from chainnode.store.db import P_STATE, ChainDB, state_key_hash
from chainnode.store.smt import EMPTY_ROOT

CHAIN = "unit-chaindb"


@pytest.fixture(scope="module")
def keys():
    return {"validator": PrivateKey.generate(), "admin": PrivateKey.generate()}


@pytest.fixture(scope="module")
def genesis(keys):
    admin = address_of(keys["admin"].public_key)
    return Genesis(CHAIN, 1_700_000_000_000,
                   (Validator("node0", keys["validator"].public_key.raw),),
                   (Member(admin, ("admin", "operator"), "admin"),), {})


@pytest.fixture
def db(tmp_path):
    d = ChainDB(tmp_path / "chain.ldb")
    yield d
    d.close()


def register_txs(keys, n, expires_at=100):
    return [build_tx(keys["admin"], CHAIN, "system", "sys.members", "register",
                     {"address": secrets.token_hex(20), "roles": ["member"], "name": ""},
                     expires_at=expires_at, gas_limit=100_000) for _ in range(n)]


def certify(keys, block: Block) -> CommitCertificate:
    payload = vote_payload("commit", CHAIN, 0, block.height, block.hash, 1_000)
    sig = domain.sign(keys["validator"], "commit", CHAIN, payload)
    return CommitCertificate(CHAIN, block.height, 0, block.hash, ((0, 1_000, sig),))


def produce(chain: Chain, keys, txs):
    ex = chain.build(txs, 0, 0)
    cert = certify(keys, ex.block)
    chain.commit(ex, cert)
    return ex, cert


def test_fresh_db_has_no_head_and_genesis_root_recomputes(db, genesis):
    assert db.head() is None
    assert db.genesis_hash() is None
    chain = Chain(db, genesis)
    head = db.head()
    assert head is not None and head.height == 0
    assert head.block_hash == genesis.hash() == db.genesis_hash()
    assert chain.head == head
    assert head.state_root != EMPTY_ROOT
    assert db.recompute_state_root() == head.state_root
    # the genesis admin is in state
    rec = codec.decode(db.state_get("sys.members", codec.encode(genesis.members[0].address)))
    assert rec["active"] is True and "admin" in rec["roles"]


def test_commit_block_moves_head_and_indexes_everything(db, genesis, keys):
    chain = Chain(db, genesis)
    before = db.head()
    txs = register_txs(keys, 3)
    ex, cert = produce(chain, keys, txs)
    block = ex.block

    head = db.head()
    assert head.height == 1 == before.height + 1
    assert head.block_hash == block.hash
    assert head.state_root == block.header.state_root != before.state_root
    assert block.header.prev_hash == before.block_hash
    assert db.block(1).encode() == block.encode()
    assert db.block_bytes(1) == block.encode()
    assert db.certificate(1) == cert
    assert db.height_of(block.hash) == 1
    for i, tx in enumerate(txs):
        assert db.has_tx(tx.hash)
        assert db.tx_location(tx.hash) == (1, i)
        rc = db.receipt(tx.hash)
        assert rc == ex.outcome.receipts[i] and rc.ok
        addr = tx.args["address"]
        stored = db.state_get("sys.members", codec.encode(addr))
        assert codec.decode(stored)["roles"] == ["member"]
        assert db.smt.get(head.state_root, state_key_hash("sys.members", codec.encode(addr)))
    assert db.recompute_state_root() == head.state_root

    ex2, _ = produce(chain, keys, register_txs(keys, 2))
    assert db.head().height == 2
    assert ex2.block.header.prev_hash == block.hash
    assert db.recompute_state_root() == db.head().state_root


def test_commit_block_is_all_or_nothing(db, genesis, keys):
    """A commit that fails half-way through its batch leaves no trace: no block, no tx index,
    no receipt, no state, head unchanged. (plyvel writes a batch on exception unless it is
    opened as a transaction.)"""
    chain = Chain(db, genesis)
    head0 = db.head()
    txs = register_txs(keys, 3)
    ex = chain.build(txs, 0, 0)
    cert = certify(keys, ex.block)
    receipts = list(ex.outcome.receipts)
    # the second receipt cannot be encoded (floats are not canonical): the batch fails after the
    # block, certificate and first tx index were already put into it
    bad = Receipt(txs[1].hash, Receipt.OK, 1, 1.5, ())
    receipts[1] = bad
    with pytest.raises(codec.CodecError):
        db.commit_block(ex.block, cert, receipts, ex.outcome.writes, ex.nodes)

    assert db.head() == head0
    assert db.block(1) is None
    assert db.certificate(1) is None
    assert db.height_of(ex.block.hash) is None
    for tx in txs:
        assert not db.has_tx(tx.hash)
        assert db.tx_location(tx.hash) is None
        assert db.receipt(tx.hash) is None
        assert db.state_get("sys.members", codec.encode(tx.args["address"])) is None
    assert db.recompute_state_root() == head0.state_root

    # the same block commits cleanly afterwards
    chain.commit(ex, cert)
    assert db.head().height == 1
    assert all(db.has_tx(tx.hash) for tx in txs)


def test_chain_refuses_out_of_order_commit(db, genesis, keys):
    chain = Chain(db, genesis)
    ex_a = chain.build(register_txs(keys, 1), 0, 0)
    ex_b = chain.build(register_txs(keys, 1), 0, 0)  # also height 1, on the same parent
    chain.commit(ex_a, certify(keys, ex_a.block))
    with pytest.raises(InvalidBlock, match="out of order"):
        chain.commit(ex_b, certify(keys, ex_b.block))
    assert db.head().height == 1
    assert db.head().block_hash == ex_a.block.hash
    assert not db.has_tx(ex_b.block.txs[0].hash)


def test_recompute_tracks_updates_and_deletes_and_detects_tampering(db, genesis, keys):
    Chain(db, genesis)
    head = db.head()
    blocks_writes = [
        {("app", b"a"): b"1", ("app", b"b"): b"2", ("app", b"c"): b"3"},
        {("app", b"a"): b"10", ("app", b"b"): None},  # update and delete
        {("other", b"a"): b"x", ("app", b"c"): None},
    ]
    for writes in blocks_writes:
        root, nodes = db.compute_state_update(head.state_root, writes)
        # a block without txs is enough for the store; it does not check roots itself
        hdr = BlockHeader(CHAIN, head.height + 1, head.block_hash, 1, 0, 0, b"\0" * 32,
                          b"\0" * 32, root, b"\0" * 32, b"\0" * 32)
        block = Block(hdr, ())
        head = db.commit_block(block, certify(keys, block), [], writes, nodes)
        assert db.head() == head
        assert db.recompute_state_root() == head.state_root

    assert db.state_get("app", b"a") == b"10"
    assert db.state_get("app", b"b") is None
    assert db.state_get("app", b"c") is None
    assert db.state_get("other", b"a") == b"x"
    assert sorted((k, v) for _, k, v in db.state_items("app")) == [(b"a", b"10")]

    # a stored value changed behind the tree's back no longer matches the head root
    raw = codec.encode(["app", b"a", b"99"])
    db.db.put(P_STATE + state_key_hash("app", b"a"), raw)
    assert db.recompute_state_root() != head.state_root


def test_reopen_after_close_keeps_head_blocks_and_state(tmp_path, genesis, keys):
    path = tmp_path / "chain.ldb"
    db = ChainDB(path)
    chain = Chain(db, genesis)
    committed = [produce(chain, keys, register_txs(keys, 2)) for _ in range(3)]
    head = db.head()
    db.close()
    db.close()  # idempotent

    db2 = ChainDB(path)
    try:
        assert db2.head() == head
        assert db2.genesis_hash() == genesis.hash()
        for ex, cert in committed:
            h = ex.block.height
            assert db2.block(h).encode() == ex.block.encode()
            assert db2.certificate(h) == cert
            for tx, rc in zip(ex.block.txs, ex.outcome.receipts, strict=True):
                assert db2.receipt(tx.hash) == rc
        assert db2.recompute_state_root() == head.state_root
        chain2 = Chain(db2, genesis)  # reopens without rewriting genesis
        assert chain2.head == head
        ex, _ = produce(chain2, keys, register_txs(keys, 1, expires_at=200))
        assert db2.head().height == head.height + 1
        other = Genesis(CHAIN, 1, genesis.validators, genesis.members, {})
        with pytest.raises(RuntimeError, match="another genesis"):
            Chain(db2, other)
    finally:
        db2.close()


def test_bounded_update_is_put_of_every_item():
    """Bounded.update (the node cache after a commit) keeps the limit and every new item,
    whether the items fit at once or need evictions on the way."""
    from chainnode.store.db import Bounded

    b = Bounded(8)
    b.update({i: i for i in range(5)})
    assert [b.get(i) for i in range(5)] == list(range(5))
    b.update({i: -i for i in range(3, 12)})  # overflows: evicts the oldest half as put does
    assert all(b.get(i) == -i for i in range(8, 12))
    assert len(b._d) <= 8


def test_bounded_get_sees_puts_evictions_and_pops():
    """get is the dict's own bound method: it must keep answering for the live contents
    through evictions (done in place) and pops."""
    from chainnode.store.db import Bounded

    b = Bounded(4)
    for i in range(10):
        b.put(i, str(i))
        assert b.get(i) == str(i)
    assert b.get(0) is None and len(b._d) <= 4  # evicted
    b.pop(9)
    assert b.get(9) is None
    b.update({"a": 1})
    assert b.get("a") == 1 and b.get("zz", "dflt") == "dflt"


def test_state_key_hash_and_stored_value_are_the_whole_array_encodings():
    """Both are put together from parts; they must equal encoding the whole list, for every
    kind of contract name, key and value, including ones that are not str/bytes."""
    from chainnode import codec
    from chainnode.crypto.hashing import sm3
    from chainnode.store.db import state_key_hash, state_value_bytes

    cases = [("sys.members", b"k"), ("", b""), ("c" * 300, b"\x00" * 70_000), ("é☃", b"\xff"),
             ("x", "str-key"), ("x", 5), ("x", None)]
    for c, k in cases:
        assert state_key_hash(c, k) == sm3(codec.encode([c, k]))
        for v in (b"", b"v" * 300, b"v" * 70_000, "s", [1, [2]], None):
            assert state_value_bytes(c, k, v) == codec.encode([c, k, v])
