"""Handshake logic without sockets: HELLO checks and the AUTH transcript's bindings."""

from __future__ import annotations

import pytest

from chainnode.crypto.sm2 import PrivateKey
from chainnode.net.handshake import (
    INITIATOR,
    PROTOCOL_VERSION,
    RESPONDER,
    HandshakeError,
    Hello,
    auth_transcript,
    check_hello,
    sign_auth,
    verify_auth,
)

CHAIN = "grid-test"
GENESIS = b"\x11" * 32
A = PrivateKey.generate()
B = PrivateKey.generate()
C = PrivateKey.generate()
FP_A = b"\xaa" * 32
FP_B = b"\xbb" * 32


def authorizer(pub: bytes):
    return {A.public_key.raw: "validator", B.public_key.raw: "validator",
            C.public_key.raw: "observer"}.get(pub)


def hello(key: PrivateKey, role: str = "validator", **kw) -> Hello:
    h = Hello.new(kw.pop("chain_id", CHAIN), kw.pop("genesis_hash", GENESIS),
                  key.public_key.raw, role)
    return Hello(**{**h.__dict__, **kw})


def check(h: Hello, own: PrivateKey = A) -> str:
    return check_hello(h, chain_id=CHAIN, genesis_hash=GENESIS,
                       own_public_key=own.public_key.raw, authorizer=authorizer)


def reason_of(fn, *args) -> str:
    with pytest.raises(HandshakeError) as ei:
        fn(*args)
    return ei.value.reason


def test_hello_wire_round_trip():
    h = hello(B)
    assert Hello.from_wire(h.to_wire()) == h


@pytest.mark.parametrize("mutate", [
    lambda w: {**w, "nonce": b"short"},
    lambda w: {**w, "public_key": b"\x01" * 63},
    lambda w: {**w, "version": "1"},
    lambda w: {**w, "extra": 1},
    lambda w: {k: v for k, v in w.items() if k != "role"},
    lambda w: [w],
    lambda w: {**w, "chain_id": "x" * 200},
])
def test_malformed_hello(mutate):
    assert reason_of(Hello.from_wire, mutate(hello(B).to_wire())) == "malformed"


def test_valid_hello_returns_granted_role():
    assert check(hello(B)) == "validator"
    assert check(hello(C, "observer")) == "observer"


def test_claimed_role_never_refuses_a_member():
    """The set of our head decides: a member claiming more (a validator voted out while it
    was down) gets less, one claiming less (a set change behind us) gets its real role."""
    assert check(hello(C, "validator")) == "observer"
    assert check(hello(B, "observer")) == "validator"


def test_hello_rejections():
    assert reason_of(check, hello(B, chain_id="other")) == "wrong-chain"
    assert reason_of(check, hello(B, genesis_hash=b"\x22" * 32)) == "wrong-genesis"
    assert reason_of(check, hello(B, version=PROTOCOL_VERSION + 1)) == "wrong-version"
    assert reason_of(check, hello(B, version=1)) == "wrong-version"  # one-tx forwarding
    assert reason_of(check, hello(PrivateKey.generate())) == "not-authorised"
    assert reason_of(check, hello(A), A) == "self-connection"
    off_curve = hello(B, public_key=b"\x01" * 64)
    assert reason_of(check, off_curve) == "malformed"


def test_not_authorised_detail_names_the_key():
    stranger = PrivateKey.generate()
    with pytest.raises(HandshakeError) as ei:
        check(hello(stranger))
    assert stranger.public_key.raw[:8].hex() in ei.value.detail


def _session():
    hi, hr = hello(A), hello(B)
    sig = sign_auth(A, CHAIN, auth_transcript(INITIATOR, hi, hr, FP_A, FP_B))
    return hi, hr, sig


def test_auth_verifies_for_its_own_session():
    hi, hr, sig = _session()
    assert verify_auth(A.public_key.raw, CHAIN, auth_transcript(INITIATOR, hi, hr, FP_A, FP_B), sig)


def test_auth_replayed_in_another_session_fails():
    hi, hr, sig = _session()
    hi2, hr2 = hello(A), hello(B)  # fresh nonces
    assert not verify_auth(
        A.public_key.raw, CHAIN, auth_transcript(INITIATOR, hi2, hr2, FP_A, FP_B), sig
    )
    # even if only the responder's nonce changes
    assert not verify_auth(
        A.public_key.raw, CHAIN, auth_transcript(INITIATOR, hi, hr2, FP_A, FP_B), sig
    )


def test_auth_bound_to_tls_certificates_and_order():
    hi, hr, sig = _session()
    mitm = b"\xcc" * 32
    for fps in ((FP_A, mitm), (mitm, FP_B), (FP_B, FP_A)):
        assert not verify_auth(
            A.public_key.raw, CHAIN, auth_transcript(INITIATOR, hi, hr, *fps), sig
        )


def test_auth_cannot_be_reflected_or_moved_across_chains():
    hi, hr, sig = _session()
    assert not verify_auth(
        A.public_key.raw, CHAIN, auth_transcript(RESPONDER, hi, hr, FP_A, FP_B), sig
    )
    assert not verify_auth(
        A.public_key.raw, "other", auth_transcript(INITIATOR, hi, hr, FP_A, FP_B), sig
    )
    assert not verify_auth(
        B.public_key.raw, CHAIN, auth_transcript(INITIATOR, hi, hr, FP_A, FP_B), sig
    )


@pytest.mark.parametrize("sig", [None, b"", b"\x00" * 64, "x" * 64, b"\x01" * 63])
def test_auth_junk_signatures(sig):
    hi, hr, _ = _session()
    assert not verify_auth(
        A.public_key.raw, CHAIN, auth_transcript(INITIATOR, hi, hr, FP_A, FP_B), sig
    )
