"""Transaction.from_wire's fast construction (_assemble) builds exactly what the dataclass
constructor builds, and every malformed field is still refused with the same message."""

from __future__ import annotations

import dataclasses
import re

import pytest

from chainnode import codec
from chainnode.core import tx as txmod
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.errors import ChainError

KEY = PrivateKey.generate()


def signed() -> Transaction:
    return build_tx(KEY, "chain-a", "system", "sys.members", "register",
                    {"address": address_of(PrivateKey.generate().public_key),
                     "roles": ["member"]}, expires_at=50, gas_limit=100_000)


def test_decoded_tx_equals_the_constructed_one_field_for_field():
    tx = signed()
    raw = tx.encode()
    got = Transaction.decode(raw)
    assert type(got) is Transaction
    assert set(vars(got)) == {f.name for f in dataclasses.fields(Transaction)}
    for f in dataclasses.fields(Transaction):
        assert getattr(got, f.name) == getattr(tx, f.name) or f.name.startswith("_"), f.name
    assert got == tx and got.hash == tx.hash == tx.compute_hash()
    assert got._raw == raw and got._body_raw == codec.encode(tx.body())
    assert got.encode() == raw and got.body_bytes() == tx.body_bytes()
    assert got.verify_signature()
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.nonce = bytes(16)


def test_a_subclass_still_goes_through_its_constructor():
    class Sub(Transaction):
        pass

    tx = signed()
    got = Sub.from_wire(codec.decode(tx.encode()), tx.encode())
    assert type(got) is Sub and got.hash == tx.hash and got.encode() == tx.encode()


def test_without_raw_bytes_the_tx_is_built_and_hashed_the_same():
    tx = signed()
    got = Transaction.from_wire(tx.to_wire())
    assert got == tx and got.hash == tx.hash and got.encode() == tx.encode()


@pytest.mark.parametrize("index,bad,message", [
    (0, "bad chain!", "invalid chain_id"), (1, b"short", "invalid nonce (16 bytes)"),
    (2, -1, "invalid expires_at"), (3, b"k" * 63, "invalid sender public key (64 bytes)"),
    (4, "mint", "invalid kind (one of deploy, call, system)"),
    (5, "Bad", "invalid contract name"), (6, "9x", "invalid method name"),
    (7, [], "invalid args (a map)"), (8, 0, "invalid gas_limit"),
    (9, b"s" * 63, "invalid signature (64 bytes)"), (3, b"\x01" * 64, "not a point"),
])
def test_each_malformed_field_is_refused_with_its_message(index, bad, message):
    w = signed().to_wire()
    w[index] = bad
    for _attempt in range(2):  # the second time too: nothing about a refusal is remembered
        with pytest.raises(ChainError, match=re.escape(message)):
            Transaction.decode(codec.encode(w))


def test_the_first_bad_field_is_the_one_named():
    w = signed().to_wire()
    w[2], w[8] = -1, 0
    with pytest.raises(ChainError, match="invalid expires_at"):
        Transaction.from_wire(w)


def test_the_field_list_guard_matches_the_class():
    assert tuple(f.name for f in dataclasses.fields(Transaction)) == txmod._FIELDS
