"""Addresses: first 20 bytes of SM3 over the 64-byte public key, as lowercase hex."""

from __future__ import annotations

import pytest

from chainnode.crypto.address import ADDRESS_LEN, address_of, is_address
from chainnode.crypto.hashing import sm3_pure
from chainnode.crypto.sm2 import N, PrivateKey

KEYS = [PrivateKey(d) for d in (1, 2, 12345, N - 2)]


def test_address_format():
    for k in KEYS:
        a = address_of(k.public_key)
        assert len(a) == 2 * ADDRESS_LEN == 40
        assert a == a.lower() and all(c in "0123456789abcdef" for c in a)
        assert is_address(a)


def test_address_definition_against_reference_sm3():
    for k in KEYS:
        assert address_of(k.public_key) == sm3_pure(k.public_key.raw)[:20].hex()


def test_deterministic_and_accepts_raw_bytes():
    k = KEYS[2]
    assert address_of(k.public_key) == address_of(k.public_key) == address_of(k.public_key.raw)
    assert address_of(PrivateKey(12345).public_key) == address_of(k.public_key)


def test_differs_per_key():
    addrs = {address_of(k.public_key) for k in KEYS}
    assert len(addrs) == len(KEYS)


def test_not_computed_over_the_04_prefixed_point():
    k = KEYS[0]
    assert address_of(k.public_key) != sm3_pure(b"\x04" + k.public_key.raw)[:20].hex()


@pytest.mark.parametrize("text", [
    "", "0" * 39, "0" * 41, "g" * 40, "A" * 40, " " + "0" * 39, "0x" + "0" * 38,
    b"0" * 40, None, 40, ["0" * 40],
])
def test_is_address_rejects(text):
    assert is_address(text) is False


def test_is_address_accepts_lowercase_hex():
    assert is_address("0123456789abcdef0123456789abcdef01234567")


def test_is_address_matches_the_character_rule():
    """is_address is one regex pass: it must accept and refuse exactly what the rule says
    (40 characters, each a lowercase hex digit), whatever else the text holds."""
    def rule(t: object) -> bool:
        return (isinstance(t, str) and len(t) == 40
                and all(c in "0123456789abcdef" for c in t))

    good = "0123456789abcdef" * 2 + "01234567"
    cases = [good, good.upper(), good[:-1], good + "0", good[:-1] + "\n", "\n" + good[1:],
             good[:-1] + "g", good[:-1] + "٣", good[:-1] + "０", good[:-1] + " ", "", None,
             b"a" * 40, 40, ["a"] * 40, "a" * 40, "f" * 40, "z" * 40]
    for t in cases:
        assert is_address(t) is rule(t), t
