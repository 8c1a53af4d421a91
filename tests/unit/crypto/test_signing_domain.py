"""Domain-separated signing: a signature is bound to its purpose and its chain."""

from __future__ import annotations

import pytest

from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import GmsslBackend, N, PrivateKey

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/domain"), "big") % (N - 2) + 1)
OTHER = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/domain-2"), "big") % (N - 2) + 1)
CHAIN = "grid-test"
PAYLOAD = b"\x93\x01\x02\x03"


def test_signing_bytes_layout():
    assert domain.signing_bytes("tx", CHAIN, b"p") == b"chainnode/tx\x00grid-test\x00p"
    assert domain.signing_bytes("view-change", "c", b"") == b"chainnode/view-change\x00c\x00"
    assert domain.signing_bytes("tx", "\u7535\u7f51", b"") == "chainnode/tx\x00\u7535\u7f51\x00".encode()


def test_round_trip():
    sig = domain.sign(KEY, "tx", CHAIN, PAYLOAD)
    assert domain.verify(KEY.public_key, "tx", CHAIN, PAYLOAD, sig)


def test_tx_signature_is_not_a_commit_vote():
    sig = domain.sign(KEY, "tx", CHAIN, PAYLOAD)
    assert not domain.verify(KEY.public_key, "commit", CHAIN, PAYLOAD, sig)


def test_signature_is_bound_to_chain_payload_and_key():
    sig = domain.sign(KEY, "tx", CHAIN, PAYLOAD)
    assert not domain.verify(KEY.public_key, "tx", "grid-prod", PAYLOAD, sig)
    assert not domain.verify(KEY.public_key, "tx", CHAIN + "x", PAYLOAD, sig)
    assert not domain.verify(KEY.public_key, "tx", CHAIN, PAYLOAD + b"\x00", sig)
    assert not domain.verify(OTHER.public_key, "tx", CHAIN, PAYLOAD, sig)
    # the raw payload alone (no domain prefix) is not what was signed
    assert not KEY.public_key.verify(sig, PAYLOAD)


def test_every_domain_is_separate_from_every_other():
    doms = sorted(domain.DOMAINS)
    assert {"tx", "prepare", "commit", "view-change", "new-view", "handshake"} <= set(doms)
    prefixes = {domain.signing_bytes(d, CHAIN, b"") for d in doms}
    assert len(prefixes) == len(doms)
    for d in doms:
        sig = domain.sign(KEY, d, CHAIN, PAYLOAD)
        for e in doms:
            assert domain.verify(KEY.public_key, e, CHAIN, PAYLOAD, sig) == (d == e), (d, e)


def test_chain_and_payload_cannot_be_shifted_across_the_separator():
    # "a" + payload "b\x00c" vs chain "a\x00b" + payload "c": the NUL in a chain id is refused,
    # so the prefix parse is unambiguous.
    with pytest.raises(ValueError):
        domain.signing_bytes("tx", "a\x00b", b"c")
    assert domain.signing_bytes("tx", "ab", b"c") != domain.signing_bytes("tx", "a", b"bc")


@pytest.mark.parametrize("bad", ["", "TX", "transaction", "tx\x00", "commit ", "prepare/commit"])
def test_unknown_domain_rejected(bad):
    with pytest.raises(ValueError):
        domain.signing_bytes(bad, CHAIN, PAYLOAD)
    with pytest.raises(ValueError):
        domain.sign(KEY, bad, CHAIN, PAYLOAD)
    sig = domain.sign(KEY, "tx", CHAIN, PAYLOAD)
    with pytest.raises(ValueError):
        domain.verify(KEY.public_key, bad, CHAIN, PAYLOAD, sig)


def test_domain_signature_interoperates_with_gmssl():
    sig = domain.sign(KEY, "commit", CHAIN, PAYLOAD)
    msg = domain.signing_bytes("commit", CHAIN, PAYLOAD)
    assert KEY.public_key.raw[0] != 0x04
    assert GmsslBackend().verify(KEY.public_key.raw, msg, sig)
