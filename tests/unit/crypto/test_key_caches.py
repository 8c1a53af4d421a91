"""The remembered curve checks (sm2) and addresses (address_of): only keys that passed, only
immutable bytes, bounded, and the same answers as the uncached computation."""

from __future__ import annotations

import pytest

from chainnode.crypto import address as address_mod
from chainnode.crypto import sm2
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PrivateKey, PublicKey, SignatureError, check_public_key

KEY = PrivateKey.generate().public_key.raw


def off_curve(raw: bytes) -> bytes:
    return raw[:63] + bytes([raw[63] ^ 1])


def test_a_bad_key_is_refused_every_time_and_never_remembered():
    bad = off_curve(KEY)
    for _ in range(3):
        with pytest.raises(SignatureError, match="not a point on the curve"):
            check_public_key(bad)
        with pytest.raises(SignatureError):
            PublicKey(bad)
    assert bad not in sm2._checked
    for wrong in (b"", KEY[:63], KEY + b"\x00", "x" * 64, None):
        with pytest.raises(SignatureError, match="64 bytes"):
            check_public_key(wrong)


def test_a_good_key_is_checked_once_then_remembered(monkeypatch):
    sm2._checked.discard(KEY)
    check_public_key(KEY)
    assert KEY in sm2._checked
    monkeypatch.setattr(sm2, "P", 0)  # a second full check would now refuse it
    check_public_key(KEY)
    assert PublicKey(KEY).raw == KEY


def test_only_exact_bytes_are_remembered():
    sm2._checked.clear()
    mutable = bytearray(KEY)
    check_public_key(mutable)
    assert not sm2._checked
    mutable[63] ^= 1  # a bytearray can change after its check: it must be checked again
    with pytest.raises(SignatureError):
        check_public_key(mutable)


def test_the_remembered_keys_are_bounded(monkeypatch):
    monkeypatch.setattr(sm2, "MAX_CHECKED_KEYS", 3)
    sm2._checked.clear()
    keys = [PrivateKey.generate().public_key.raw for _ in range(7)]
    for k in keys:
        check_public_key(k)
        assert len(sm2._checked) <= 3
    assert keys[-1] in sm2._checked


def test_address_of_matches_sm3_and_is_bounded(monkeypatch):
    monkeypatch.setattr(address_mod, "MAX_CACHED_ADDRESSES", 2)
    address_mod._addresses.clear()
    keys = [PrivateKey.generate().public_key for _ in range(5)]
    for k in keys * 2:
        assert address_mod.address_of(k) == sm3(k.raw)[:20].hex()
        assert address_mod.address_of(k.raw) == sm3(k.raw)[:20].hex()
        assert len(address_mod._addresses) <= 2


def test_address_of_a_bytearray_follows_its_current_bytes():
    address_mod._addresses.clear()
    mutable = bytearray(KEY)
    first = address_mod.address_of(mutable)
    mutable[0] ^= 1
    assert address_mod.address_of(mutable) == sm3(bytes(mutable))[:20].hex() != first
    assert not address_mod._addresses
