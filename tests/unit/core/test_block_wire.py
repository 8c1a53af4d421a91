"""Block headers, blocks and receipts: wire round trips, hash stability, field checks."""

from __future__ import annotations

import msgpack
import pytest

from chainnode import codec
from chainnode.core.block import Block, BlockHeader, Receipt, receipt_root, tx_root
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3, sm3_pure
from chainnode.crypto.merkle import EMPTY_ROOT, merkle_root
from chainnode.crypto.sm2 import N, PrivateKey

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/block"), "big") % (N - 2) + 1)
CHAIN = "grid-test"
TXS = tuple(
    build_tx(KEY, CHAIN, "call", "meter", "record", {"i": i}, expires_at=10, nonce=bytes([i]) * 16)
    for i in range(3)
)


def h(tag: str) -> bytes:
    return sm3(tag.encode())


def header(**kw) -> BlockHeader:
    fields = dict(chain_id=CHAIN, height=7, prev_hash=h("prev"), timestamp_ms=1_700_000_000_000,
                  proposer=2, view=1, tx_root=tx_root(TXS), receipt_root=h("rr"),
                  state_root=h("sr"), validators_hash=h("vh"), next_validators_hash=h("nvh"))
    fields.update(kw)
    return BlockHeader(**fields)


HDR = header()
# Pinned so any change to the header wire format (field order, encoding) is noticed: such a
# change forks every existing chain.
HDR_FIXED = BlockHeader("c", 1, b"\x00" * 32, 0, 0, 0, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32,
                        b"\x04" * 32, b"\x05" * 32)


# ---------------------------------------------------------------------------- header

def test_header_wire_round_trip():
    w = HDR.to_wire()
    assert len(w) == 12 and w[0] == CHAIN and w[1] == 7 and w[11] == bytes(32)
    assert BlockHeader.from_wire(w) == HDR
    assert BlockHeader.from_wire(codec.decode(codec.encode(w))) == HDR


def test_header_hash_is_sm3_of_the_msgpack_wire_list():
    # independent of chainnode.codec: msgpack's packer + pure-Python SM3
    for hd in (HDR, HDR_FIXED):
        assert hd.hash() == sm3_pure(msgpack.packb(hd.to_wire(), use_bin_type=True))
        assert hd.hash() == BlockHeader.from_wire(codec.decode(codec.encode(hd.to_wire()))).hash()


def test_header_hash_pinned():
    assert HDR_FIXED.hash().hex() == (
        "5e05e1d60cb46ec6d9ba52584726e9d641d5ca94c773903229b47723842e6d91"
    )
    assert HDR_FIXED.hash().hex() == sm3_pure(
        bytes.fromhex("9ca16301c420") + b"\x00" * 32 + b"\x00\x00\x00"
        + b"".join(b"\xc4\x20" + bytes([i]) * 32 for i in range(1, 6))
        + b"\xc4\x20" + b"\x00" * 32  # last_commit_hash: none at height 1
    ).hex()


@pytest.mark.parametrize("field,value", [
    ("chain_id", "other"), ("height", 8), ("prev_hash", h("x")), ("timestamp_ms", 1),
    ("proposer", 3), ("view", 2), ("tx_root", h("x")), ("receipt_root", h("x")),
    ("state_root", h("x")), ("validators_hash", h("x")), ("next_validators_hash", h("x")),
])
def test_every_header_field_changes_the_hash(field, value):
    assert header(**{field: value}).hash() != HDR.hash()


BAD_HEADER_FIELDS = [
    (0, b"grid"), (0, 1), (1, "7"), (1, True), (1, None), (2, "00" * 32), (3, 1.5),
    (3, False), (4, b"\x02"), (5, "1"), (6, "root"), (7, None), (8, 5), (9, [h("x")]),
    (10, "x"),
]


@pytest.mark.parametrize("i,value", BAD_HEADER_FIELDS)
def test_header_field_type_checks(i, value):
    w = HDR.to_wire()
    w[i] = value
    with pytest.raises(ValueError):
        BlockHeader.from_wire(w)


@pytest.mark.parametrize("i", [2, 6, 7, 8, 9, 10])
@pytest.mark.parametrize("n", [0, 31, 33])
def test_header_hash_fields_must_be_32_bytes(i, n):
    w = HDR.to_wire()
    w[i] = b"\x00" * n
    with pytest.raises(ValueError):
        BlockHeader.from_wire(w)


@pytest.mark.parametrize("w", [HDR.to_wire()[:10], HDR.to_wire() + [b""], [], "hdr", None,
                               tuple(HDR.to_wire())])
def test_header_wire_shape(w):
    with pytest.raises(ValueError):
        BlockHeader.from_wire(w)


def test_header_json():
    j = HDR.to_json()
    assert j["hash"] == HDR.hash().hex() and j["height"] == 7
    assert j["prev_hash"] == h("prev").hex() and j["tx_root"] == tx_root(TXS).hex()


# ---------------------------------------------------------------------------- block

def test_block_round_trip():
    b = Block(HDR, TXS)
    assert b.hash == HDR.hash() and b.height == 7
    data = b.encode()
    back = Block.decode(data)
    assert back.header == HDR and back.hash == b.hash
    assert [t.hash for t in back.txs] == [t.hash for t in TXS]
    assert all(t.verify_signature() for t in back.txs)
    assert back.encode() == data
    assert back.computed_tx_root() == HDR.tx_root == merkle_root([t.witness_hash() for t in TXS])
    assert HDR.tx_root != merkle_root([t.hash for t in TXS])  # leaves are not the tx ids


def test_block_hash_is_the_header_hash_only():
    assert Block(HDR, ()).hash == Block(HDR, TXS).hash == HDR.hash()
    assert tx_root(()) == EMPTY_ROOT
    assert Block(HDR, TXS[:2]).computed_tx_root() != HDR.tx_root


def test_empty_block_round_trip():
    b = Block(header(tx_root=EMPTY_ROOT), ())
    back = Block.decode(b.encode())
    assert back.txs == () and back.computed_tx_root() == EMPTY_ROOT == back.header.tx_root


@pytest.mark.parametrize("w", [
    [HDR.to_wire()], [HDR.to_wire(), [], []], [HDR.to_wire(), {}, None], "block", [],
    [HDR.to_wire()[:5], [], None], [HDR.to_wire(), []], [HDR.to_wire(), [], None, None],
], ids=["1", "bad-last-commit", "txs-map", "str", "empty", "short-header", "2", "4"])
def test_block_shape_errors(w):
    with pytest.raises(ValueError):
        Block.decode(codec.encode(w))


def test_block_with_malformed_tx():
    bad_tx = TXS[0].to_wire()
    bad_tx[4] = "transfer"
    # Block.decode raises ValueError (what sync and net catch), naming the tx problem
    with pytest.raises(ValueError, match="malformed transaction: invalid kind"):
        Block.decode(codec.encode([HDR.to_wire(), [bad_tx], None]))


def test_block_decode_rejects_bad_bytes_and_size():
    data = Block(HDR, TXS).encode()
    with pytest.raises(ValueError):
        Block.decode(data + b"\x00")
    with pytest.raises(ValueError):
        Block.decode(data, max_bytes=len(data) - 1)
    assert Block.decode(data, max_bytes=len(data)).hash == HDR.hash()


def test_tx_order_matters_for_the_root():
    assert tx_root(TXS) != tx_root(tuple(reversed(TXS)))
    assert tx_root(list(TXS)) == tx_root(TXS)


def resigned(tx: Transaction, sig: bytes) -> Transaction:
    return Transaction.from_wire(tx.to_wire()[:-1] + [sig])


def test_tx_root_changes_when_only_a_signature_changes():
    """The header must pin the signature bytes, not only the tx ids: otherwise a certified
    block could be served with the same hash and other signatures (the certified paths do not
    re-check them)."""
    again = domain.sign(KEY, "tx", CHAIN, TXS[1].body_bytes())  # SM2 signing is randomized
    for sig in (again, bytes(64), TXS[1].signature[:-1] + bytes([TXS[1].signature[-1] ^ 1])):
        txs = (TXS[0], resigned(TXS[1], sig), TXS[2])
        assert [t.hash for t in txs] == [t.hash for t in TXS]
        assert tx_root(txs) != tx_root(TXS)
        swapped = Block(HDR, txs)
        assert swapped.hash == Block(HDR, TXS).hash  # the header alone makes the hash
        back = Block.decode(swapped.encode())
        assert back.computed_tx_root() != back.header.tx_root
    assert tx_root((TXS[0], resigned(TXS[1], TXS[1].signature), TXS[2])) == tx_root(TXS)


def test_computed_tx_root_is_cached_per_block():
    b = Block.decode(Block(HDR, TXS).encode())
    assert b.computed_tx_root() is b.computed_tx_root()
    assert Block(HDR, TXS[:2]).computed_tx_root() == tx_root(TXS[:2])


# ---------------------------------------------------------------------------- receipts

R_OK = Receipt(TXS[0].hash, Receipt.OK, 21_000, {"balance": 10, "raw": b"\x01"},
               (("energy.market", "Bid", {"qty": 5}), ("energy.market", "Match", {})))
R_FAIL = Receipt(TXS[1].hash, Receipt.FAILED, 500, None, (), "VM_OUT_OF_GAS", "out of gas")


@pytest.mark.parametrize("r", [R_OK, R_FAIL], ids=["ok", "failed"])
def test_receipt_round_trip(r):
    data = r.encode()
    back = Receipt.decode(data)
    assert back == r
    assert back.encode() == data
    assert sm3(back.encode()) == sm3(data)


def test_receipt_wire_layout_and_status():
    w = R_OK.to_wire()
    assert len(w) == 7 and w[4] == [["energy.market", "Bid", {"qty": 5}],
                                    ["energy.market", "Match", {}]]
    assert R_OK.ok and not R_FAIL.ok
    assert R_FAIL.to_wire()[5:] == ["VM_OUT_OF_GAS", "out of gas"]


def test_receipt_json():
    j = R_OK.to_json()
    assert j["status"] == "ok" and j["tx_hash"] == TXS[0].hash.hex()
    assert j["value"] == {"balance": 10, "raw": {"hex": "01"}}
    assert j["events"][0] == {"contract": "energy.market", "name": "Bid", "fields": {"qty": 5}}
    assert R_FAIL.to_json()["status"] == "failed"
    assert R_FAIL.to_json()["error_code"] == "VM_OUT_OF_GAS"


def test_receipt_root():
    root = receipt_root([R_OK, R_FAIL])
    assert root == merkle_root([R_OK.encode(), R_FAIL.encode()])
    assert root != receipt_root([R_FAIL, R_OK])
    assert receipt_root([]) == EMPTY_ROOT
    changed = Receipt(R_OK.tx_hash, R_OK.status, 21_001, R_OK.value, R_OK.events)
    assert receipt_root([changed, R_FAIL]) != root


@pytest.mark.parametrize("w", [[], R_OK.to_wire()[:6], R_OK.to_wire() + [""], "r", None])
def test_receipt_wire_shape(w):
    with pytest.raises(ValueError):
        Receipt.from_wire(w)


def test_receipt_decode_rejects_noncanonical_bytes():
    with pytest.raises(ValueError):
        Receipt.decode(msgpack.packb(R_OK.to_wire()[:3] + [{"z": 1, "a": 2}] + R_OK.to_wire()[4:]))


def test_transaction_round_trip_inside_block_keeps_signature_domain():
    t = Block.decode(Block(HDR, TXS).encode()).txs[1]
    assert isinstance(t, Transaction) and t.verify_signature() and t.args == {"i": 1}


def test_new_receipt_is_the_constructor_result():
    from chainnode.core.block import Receipt, new_receipt

    events = (("sys.members", "MemberRegistered", {"address": "ab" * 20, "roles": ["m"]}),)
    for args in ((b"\x01" * 32, Receipt.OK, 20_000, True, events),
                 (b"\x02" * 32, Receipt.FAILED, 7, None, (), "CODE", "message")):
        fast, slow = new_receipt(*args), Receipt(*args)
        assert vars(fast) == vars(slow)  # every field, the encoding cache slot included
        assert fast == slow and fast.encode() == slow.encode()
        assert Receipt.decode(fast.encode()) == fast
