"""SM3 (GB/T 32905): known answers, and the hashlib and gmssl implementations agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.crypto import hashing
from chainnode.crypto.hashing import sm3, sm3_hex, sm3_pure

# GB/T 32905-2016 Appendix A, examples 1 and 2; the empty-message digest is the widely
# published value (OpenSSL, GmSSL test suites).
VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    (b"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"),
]


@pytest.mark.parametrize("impl", [sm3, sm3_pure], ids=["default", "gmssl"])
@pytest.mark.parametrize("msg,digest", VECTORS, ids=["abc", "abcd*16", "empty"])
def test_known_answers(impl, msg, digest):
    out = impl(msg)
    assert isinstance(out, bytes) and len(out) == 32
    assert out.hex() == digest


def test_hex_helper():
    assert sm3_hex(b"abc") == VECTORS[0][1]


def test_fast_path_is_hashlib_here():
    # OpenSSL 3 in this environment provides SM3; the module must have picked it up.
    assert hashing.HAVE_HASHLIB_SM3 is True
    assert hashing.sm3 is not hashing.sm3_pure


@pytest.mark.parametrize("n", [1, 55, 56, 63, 64, 65, 119, 120, 128, 1000])
def test_implementations_agree_at_padding_boundaries(n):
    msg = bytes(range(256)) * (n // 256 + 1)
    assert sm3(msg[:n]) == sm3_pure(msg[:n])


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_implementations_agree_on_random_inputs(data):
    assert sm3(data) == sm3_pure(data)


def test_distinct_inputs_give_distinct_digests():
    assert sm3(b"abc") != sm3(b"abd") != sm3(b"abc\x00")


@pytest.mark.parametrize("factory", [hashing.sm3_hasher, hashing.PureSM3Hasher],
                         ids=["default", "pure"])
def test_hasher_factories_give_sm3(factory):
    for data in (b"", b"abc", bytes(range(256)) * 3):
        h = factory()
        h.update(data[:7])
        h.update(data[7:])
        assert h.digest() == sm3_pure(data)
    a, b = factory(), factory()
    a.update(b"x")
    assert b.digest() == sm3_pure(b"")  # hashers never share state
