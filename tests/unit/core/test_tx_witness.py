"""Transaction.witness_hash: the tx_root leaf, covering the id AND the signature."""

from __future__ import annotations

from dataclasses import replace

from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import N, PrivateKey

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/witness"), "big") % (N - 2) + 1)
CHAIN = "grid-test"
TX = build_tx(KEY, CHAIN, "call", "meter", "record", {"kwh": 5}, expires_at=9,
              nonce=b"\x07" * 16)


def with_sig(tx: Transaction, sig: bytes) -> Transaction:
    return Transaction.from_wire(tx.to_wire()[:-1] + [sig])


def test_witness_is_sm3_of_tag_id_and_signature():
    assert Transaction.WITNESS_TAG == b"chainnode/tx-witness\x00"
    assert TX.witness_hash() == sm3(b"chainnode/tx-witness\x00" + TX.hash + TX.signature)
    assert len(TX.witness_hash()) == 32 and TX.witness_hash() != TX.hash


def test_only_the_witness_changes_with_the_signature():
    """The id (receipts, replay window, mempool key) ignores the signature; the witness
    does not."""
    again = with_sig(TX, domain.sign(KEY, "tx", CHAIN, TX.body_bytes()))
    assert again.verify_signature() and again.signature != TX.signature
    for other in (again, with_sig(TX, bytes(64))):
        assert other.hash == TX.hash
        assert other.witness_hash() != TX.witness_hash()


def test_the_witness_changes_with_the_body():
    other = build_tx(KEY, CHAIN, "call", "meter", "record", {"kwh": 6}, expires_at=9,
                     nonce=b"\x07" * 16)
    assert other.hash != TX.hash and other.witness_hash() != TX.witness_hash()


def test_decoded_and_built_txs_agree_and_the_value_is_cached():
    back = Transaction.decode(TX.encode())
    assert back.witness_hash() == TX.witness_hash()
    assert back.witness_hash() is back.witness_hash()  # computed once per tx object
    # a copy made with other fields starts without the cache (init=False fields are reset)
    copy = replace(back, signature=bytes(64))
    assert copy.witness_hash() == sm3(Transaction.WITNESS_TAG + TX.hash + bytes(64))


def test_an_unhashed_tx_computes_its_id_for_the_witness():
    bare = Transaction(CHAIN, TX.nonce, 9, TX.sender, "call", "meter", "record", {"kwh": 5},
                       TX.gas_limit, TX.signature)
    assert bare.hash == b"" and bare.witness_hash() == TX.witness_hash()
