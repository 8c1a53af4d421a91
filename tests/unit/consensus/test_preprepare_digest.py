"""A PRE-PREPARE hashes its block once: the shell's signature check, the core's and the
core's rejected-bodies lookup all read the same digest; nothing of it is on the wire."""

from __future__ import annotations

from chainnode.consensus import messages
from chainnode.consensus.messages import (
    PrePrepare,
    decode_message,
    encode_message,
    with_signature,
)
from chainnode.crypto.hashing import sm3


def test_the_block_is_hashed_once_per_message(monkeypatch):
    body = b"block" * 1000
    calls = []

    def counting(data: bytes) -> bytes:
        calls.append(len(data))
        return sm3(data)

    monkeypatch.setattr(messages, "sm3", counting)
    pp = decode_message(encode_message(PrePrepare(0, 1, sm3(b"h"), body, 2, b"s" * 64)))
    first = pp.signing_payload("c")
    assert pp.signing_payload("c") == first and pp.body_digest() == sm3(body)
    assert calls == [len(body)]
    signed = with_signature(pp, b"t" * 64)  # the leader signs: same body, same digest
    assert signed.signing_payload("c") == first and calls == [len(body)]


def test_the_digest_is_not_on_the_wire_nor_in_equality():
    pp = PrePrepare(0, 1, sm3(b"h"), b"body", 2, b"s" * 64)
    fresh = PrePrepare(0, 1, sm3(b"h"), b"body", 2, b"s" * 64)
    wire = encode_message(pp)
    pp.body_digest()
    assert encode_message(pp) == wire and pp == fresh
    assert decode_message(wire) == pp
    other = PrePrepare(0, 1, sm3(b"h"), b"other", 2, b"s" * 64)
    assert other.signing_payload("c") != pp.signing_payload("c")


def test_a_relay_swapping_the_body_of_a_hashed_and_signed_message_is_caught():
    """The digest is cached on the message object, never carried to another one: a copy with
    another body (dataclasses.replace, as a relay or a re-proposal would build it) hashes its
    own block, so the leader's signature does not cover it; a re-signed copy of the same body
    keeps a digest that is right for it."""
    from dataclasses import replace

    from chainnode.consensus.verify import Checker
    from chainnode.crypto import domain
    from chainnode.crypto.sm2 import PrivateKey

    key = PrivateKey(0x5EED)
    checker = Checker((0,), "c", lambda _m, dom, payload, sig: domain.verify(
        key.public_key, dom, "c", payload, sig))
    pp = PrePrepare(0, 1, sm3(b"h"), b"honest body", 0)
    signed = with_signature(pp, domain.sign(key, pp.DOMAIN, "c", pp.signing_payload("c")))
    assert signed.body_digest() == sm3(b"honest body") and checker.signed(signed)
    for forged in (replace(signed, block=b"other body"),
                   decode_message(encode_message(replace(signed, block=b"other body")))):
        assert forged.body_digest() == sm3(b"other body")
        assert not checker.signed(forged)
    again = with_signature(replace(signed, block=b"other body"), signed.signature)
    assert again.body_digest() == sm3(b"other body") and not checker.signed(again)
