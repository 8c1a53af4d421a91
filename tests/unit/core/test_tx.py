"""Transactions: wire round trips, hashing, signatures and every malformed field."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from chainnode import codec
from chainnode.core.tx import MAX_TX_BYTES, NONCE_LEN, Transaction, build_tx
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import GmsslBackend, N, PrivateKey
from chainnode.errors import TX_MALFORMED, TX_TOO_LARGE, ChainError

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/tx"), "big") % (N - 2) + 1)
OTHER = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/tx-2"), "big") % (N - 2) + 1)
CHAIN = "grid-test"
ARGS = {"meter": "m-001", "kwh_centi": 12345, "raw": b"\x00\x01", "tags": ["a", 2, None],
        "nested": {"ok": True, "big": 2**80}}
NONCE = bytes(range(16))


def make(**kw) -> Transaction:
    params = dict(kind="call", contract="energy.market", method="submitBid", args=ARGS,
                  expires_at=100, gas_limit=500_000, nonce=NONCE)
    params.update(kw)
    return build_tx(KEY, CHAIN, params.pop("kind"), params.pop("contract"), params.pop("method"),
                    params.pop("args"), **params)


TX = make()
WIRE = TX.to_wire()


def malformed(wire) -> str:
    """Encode a (possibly bad) wire list and decode it as a transaction; return the error code."""
    with pytest.raises(ChainError) as ei:
        Transaction.decode(codec.encode(wire))
    with pytest.raises(ChainError):
        Transaction.from_wire(wire)
    return ei.value.code


def with_field(i: int, value) -> list:
    w = list(WIRE)
    w[i] = value
    return w


# ---------------------------------------------------------------------------- round trips

def test_build_produces_a_valid_signed_tx():
    assert TX.chain_id == CHAIN and TX.nonce == NONCE and TX.sender == KEY.public_key.raw
    assert len(TX.signature) == 64
    assert TX.hash == sm3(codec.encode(TX.body())) == TX.compute_hash()
    assert TX.verify_signature()
    assert domain.verify(KEY.public_key, "tx", CHAIN, TX.body_bytes(), TX.signature)


def test_encode_decode_round_trip():
    data = TX.encode()
    tx = Transaction.decode(data)
    assert tx == TX
    assert tx.hash == TX.hash and tx.signature == TX.signature
    assert tx.verify_signature()
    assert tx.encode() == data
    assert tx.args["nested"]["big"] == 2**80 and tx.args["raw"] == b"\x00\x01"


def test_tuple_args_round_trip_to_lists_with_the_same_hash():
    tx = make(args={"t": (1, 2)})
    back = Transaction.decode(tx.encode())
    assert back.args == {"t": [1, 2]} and back.hash == tx.hash and back.verify_signature()


def test_hash_excludes_signature():
    again = make()  # same body, fresh random k
    assert again.signature != TX.signature
    assert again.hash == TX.hash


def test_random_nonce_by_default():
    a, b = make(nonce=None), make(nonce=None)
    assert len(a.nonce) == NONCE_LEN and a.nonce != b.nonce and a.hash != b.hash


def test_sender_address_and_json():
    assert TX.sender_address == address_of(KEY.public_key)
    j = TX.to_json()
    assert j["hash"] == TX.hash.hex() and j["sender"] == TX.sender_address
    assert j["sender_public_key"] == KEY.public_key.raw.hex()
    assert j["args"]["raw"] == {"hex": "0001"} and j["args"]["tags"] == ["a", 2, None]
    assert j["nonce"] == NONCE.hex() and j["signature"] == TX.signature.hex()


@pytest.mark.parametrize("kind", ["deploy", "call", "system"])
def test_all_kinds_round_trip(kind):
    tx = make(kind=kind)
    assert Transaction.decode(tx.encode()).verify_signature()


def test_signature_interoperates_with_gmssl():
    assert KEY.public_key.raw[0] != 0x04
    msg = domain.signing_bytes("tx", CHAIN, TX.body_bytes())
    assert GmsslBackend().verify(TX.sender, msg, TX.signature)


def test_build_rejects_non_codec_args_early():
    with pytest.raises(codec.CodecError):
        make(args={"price": 1.5})
    with pytest.raises(codec.CodecError):
        make(args={1: "x"})


# ---------------------------------------------------------------------------- tampering

def test_tampered_arg_changes_hash_and_breaks_signature():
    w = list(WIRE)
    w[7] = dict(w[7], kwh_centi=12346)
    tx = Transaction.decode(codec.encode(w))
    assert tx.hash != TX.hash
    assert not tx.verify_signature()


@pytest.mark.parametrize("i,value", [
    (0, "grid-prod"), (1, bytes(16)), (2, 101), (4, "deploy"), (5, "energy.other"),
    (6, "submitAsk"), (7, {}), (8, 500_001),
], ids=["chain", "nonce", "expires", "kind", "contract", "method", "args", "gas"])
def test_every_signed_field_is_covered(i, value):
    tx = Transaction.from_wire(with_field(i, value))
    assert tx.hash != TX.hash
    assert not tx.verify_signature()


def test_substituted_sender_or_signature_fails():
    tx = Transaction.from_wire(with_field(3, OTHER.public_key.raw))
    assert not tx.verify_signature()
    forged = domain.sign(OTHER, "tx", CHAIN, TX.body_bytes())
    assert not Transaction.from_wire(with_field(9, forged)).verify_signature()
    sig = bytearray(TX.signature)
    sig[10] ^= 1
    assert not Transaction.from_wire(with_field(9, bytes(sig))).verify_signature()


def test_signature_for_another_domain_fails():
    sig = domain.sign(KEY, "commit", CHAIN, TX.body_bytes())
    assert not Transaction.from_wire(with_field(9, sig)).verify_signature()


# ---------------------------------------------------------------------------- malformed

BAD_FIELDS = {
    "chain_id empty": (0, ""),
    "chain_id too long": (0, "c" * 65),
    "chain_id int": (0, 5),
    "chain_id bytes": (0, b"grid"),
    "nonce short": (1, b"\x00" * 15),
    "nonce long": (1, b"\x00" * 17),
    "nonce str": (1, "00" * 16),
    "nonce none": (1, None),
    "expires negative": (2, -1),
    "expires bool": (2, True),
    "expires str": (2, "100"),
    "expires none": (2, None),
    "sender short": (3, b"\x01" * 63),
    "sender 04-prefixed": (3, b"\x04" + KEY.public_key.raw),
    "sender hex str": (3, KEY.public_key.raw.hex()),
    "sender off curve": (3, b"\x00" * 64),
    "sender y+1": (3, KEY.public_key.raw[:63] + bytes([KEY.public_key.raw[63] ^ 1])),
    "kind unknown": (4, "transfer"),
    "kind case": (4, "Call"),
    "kind empty": (4, ""),
    "kind bytes": (4, b"call"),
    "kind list": (4, ["call"]),
    "contract empty": (5, ""),
    "contract upper": (5, "Energy"),
    "contract digit first": (5, "1abc"),
    "contract dash": (5, "energy-market"),
    "contract too long": (5, "a" * 65),
    "contract int": (5, 5),
    "method empty": (6, ""),
    "method digit first": (6, "1run"),
    "method space": (6, "run it"),
    "method dot": (6, "a.b"),
    "method too long": (6, "m" * 65),
    "method none": (6, None),
    "args list": (7, []),
    "args none": (7, None),
    "args str": (7, "{}"),
    "gas zero": (8, 0),
    "gas negative": (8, -5),
    "gas bool": (8, True),
    "gas str": (8, "1"),
    "signature short": (9, b"\x00" * 63),
    "signature long": (9, b"\x00" * 65),
    "signature str": (9, "00" * 64),
    "signature none": (9, None),
}


@pytest.mark.parametrize("i,value", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_malformed_field(i, value):
    assert malformed(with_field(i, value)) == TX_MALFORMED


def test_boundary_lengths_accepted():
    assert Transaction.from_wire(with_field(0, "c" * 64)).chain_id == "c" * 64
    assert Transaction.from_wire(with_field(5, "a" * 64)).contract == "a" * 64
    assert Transaction.from_wire(with_field(6, "m" * 64)).method == "m" * 64
    assert Transaction.from_wire(with_field(2, 0)).expires_at == 0
    assert Transaction.from_wire(with_field(8, 1)).gas_limit == 1


@pytest.mark.parametrize("wire", [
    WIRE[:9], WIRE + [b""], [], WIRE[:-1] + [WIRE[-1], WIRE[-1]],
], ids=["9", "11", "0", "11b"])
def test_wire_list_of_wrong_length(wire):
    assert malformed(wire) == TX_MALFORMED


@pytest.mark.parametrize("wire", [
    {"chain_id": CHAIN}, "tx", 5, None, b"\x00" * 10,
])
def test_wire_not_a_list(wire):
    assert malformed(wire) == TX_MALFORMED


def test_from_wire_rejects_a_tuple():
    with pytest.raises(ChainError) as ei:
        Transaction.from_wire(tuple(WIRE))
    assert ei.value.code == TX_MALFORMED


@pytest.mark.parametrize("data", [
    b"", b"\xc1", TX.encode()[:-1], TX.encode() + b"\x00",
    b"\x9a" + b"\xcb" + b"\x00" * 8,
], ids=["empty", "c1", "truncated", "trailing", "float"])
def test_undecodable_bytes_are_malformed(data):
    with pytest.raises(ChainError) as ei:
        Transaction.decode(data)
    assert ei.value.code == TX_MALFORMED
    assert ei.value.to_json()["code"] == TX_MALFORMED


def test_float_inside_args_is_malformed():
    w = list(WIRE)
    w[7] = {"price": 1.5}
    with pytest.raises(ChainError) as ei:
        Transaction.decode(msgpack.packb(w, use_bin_type=True))
    assert ei.value.code == TX_MALFORMED


# ---------------------------------------------------------------------------- size

def test_oversized_tx():
    big = make(args={"blob": b"\x00" * MAX_TX_BYTES})
    data = big.encode()
    with pytest.raises(ChainError) as ei:
        Transaction.decode(data)
    assert ei.value.code == TX_TOO_LARGE


def test_size_limit_is_exact():
    data = TX.encode()
    assert Transaction.decode(data, max_bytes=len(data)).hash == TX.hash
    with pytest.raises(ChainError) as ei:
        Transaction.decode(data, max_bytes=len(data) - 1)
    assert ei.value.code == TX_TOO_LARGE


def test_large_but_allowed_tx():
    tx = make(args={"blob": b"\x01" * (MAX_TX_BYTES - 1024)})
    assert len(tx.encode()) <= MAX_TX_BYTES
    back = Transaction.decode(tx.encode())
    assert back.hash == tx.hash and back.verify_signature()


def test_transactions_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TX.gas_limit = 1  # type: ignore[misc]
