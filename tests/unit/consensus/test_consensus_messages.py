"""Wire forms of the PBFT messages: round trips, malformed input, signing payloads."""

from __future__ import annotations

import pytest
from cons_util import CHAIN, Driver, block

from chainnode import codec
from chainnode.consensus import (
    Commit,
    NewView,
    Prepare,
    PrePrepare,
    ViewChange,
    decode_message,
    encode_message,
    signature_checks,
)
from chainnode.core.certificate import vote_payload


def _samples(d: Driver):
    bh, body = block(1)
    pc = d.prepared_cert(0, 1, bh, [0, 1, 2])
    vc = d.view_change(1, 2, prepared=pc, prepared_block=body)
    vc2 = d.view_change(1, 3, committed=(1, d.commit_cert(0, 1, bh, [0, 1, 3])))
    pp = d.pre_prepare(0, 1, body)
    nv = d.new_view(1, [vc, vc2, d.view_change(1, 0)], d.pre_prepare(1, 1, body, sender=1), 1)
    return [pp, d.prepare(0, 1, bh, 2), d.commit(0, 1, bh, 3), vc, vc2, nv]


def test_round_trip_every_kind():
    d = Driver()
    for msg in _samples(d):
        assert decode_message(encode_message(msg)) == msg


def test_vote_payloads_are_the_certificate_payloads():
    d = Driver()
    bh, _ = block(1)
    assert d.prepare(3, 1, bh, 0).signing_payload(CHAIN) == vote_payload("prepare", CHAIN, 3,
                                                                         1, bh)
    assert Commit(3, 1, bh, 0, time_ms=7).signing_payload(CHAIN) == vote_payload(
        "commit", CHAIN, 3, 1, bh, 7)
    assert Prepare.DOMAIN == "prepare" and Commit.DOMAIN == "commit"
    assert (PrePrepare.DOMAIN, ViewChange.DOMAIN, NewView.DOMAIN) == (
        "pre-prepare", "view-change", "new-view")


def test_pre_prepare_signature_binds_the_body():
    d = Driver()
    bh, body = block(1)
    pp = d.pre_prepare(0, 1, body)
    swapped = PrePrepare(pp.view, pp.height, pp.block_hash, body + b"x", pp.sender, pp.signature)
    assert swapped.signing_payload(CHAIN) != pp.signing_payload(CHAIN)


def test_view_change_attachment_is_unsigned_and_stripped_in_new_view():
    d = Driver()
    vc = _samples(d)[3]
    assert vc.prepared_block is not None
    assert vc.stripped().signing_payload(CHAIN) == vc.signing_payload(CHAIN)
    nv = _samples(d)[5]
    assert all(v.prepared_block is None for v in nv.view_changes)


@pytest.mark.parametrize("mutate", [
    lambda w: w[:-1],                                   # wrong length
    lambda w: ["nonsense"] + w[1:],                     # unknown kind
    lambda w: w[:1] + [-1] + w[2:],                     # negative view
    lambda w: w[:1] + [True] + w[2:],                   # bool is not an int
    lambda w: w[:2] + [0] + w[3:],                      # height 0
    lambda w: w[:3] + [b"short"] + w[4:],               # hash not 32 bytes
    lambda w: w[:1] + [2**63] + w[2:],                  # absurd view
])
def test_malformed_votes_raise_value_error(mutate):
    d = Driver()
    bh, _ = block(1)
    w = d.prepare(0, 1, bh, 2).to_wire()
    with pytest.raises(ValueError):
        decode_message(codec.encode(mutate(w)))


def test_malformed_bytes_raise_value_error():
    for data in (b"", b"\xc1", codec.encode(5), codec.encode([]), codec.encode(["prepare"])):
        with pytest.raises(ValueError):
            decode_message(data)


def test_view_change_consistency_rules():
    d = Driver()
    bh, body = block(1)
    cert = d.commit_cert(0, 1, bh, [0, 1, 2])
    good = d.view_change(2, 1, committed=(1, cert)).to_wire()
    decode_message(codec.encode(good))
    bad_height = list(good)
    bad_height[2] = 2  # claims height 2 with a certificate for 1
    no_cert = list(good)
    no_cert[3] = None
    pc = d.prepared_cert(1, 1, bh, [0, 1, 2])
    stale_prep = d.view_change(2, 1, committed=(1, cert), prepared=pc).to_wire()  # height 1
    future_prep = d.view_change(2, 1, prepared=d.prepared_cert(2, 1, bh, [0, 1, 2])).to_wire()
    orphan_block = d.view_change(2, 1).to_wire()
    orphan_block[7] = body
    for w in (bad_height, no_cert, stale_prep, future_prep, orphan_block):
        with pytest.raises(ValueError):
            decode_message(codec.encode(w))


def test_new_view_structure_rules():
    d = Driver()
    nv = _samples(d)[5]
    w = nv.to_wire()
    dup = list(w)
    dup[2] = [w[2][0], w[2][0]]
    other_view = list(w)
    other_view[1] = 5
    foreign_pp = list(w)
    foreign_pp[4] = 2  # pre-prepare signed by 1, new-view claims 2
    for bad in (dup, other_view, foreign_pp):
        with pytest.raises(ValueError):
            decode_message(codec.encode(bad))


def test_signature_checks_lists_everything_a_new_view_relies_on():
    d = Driver()
    nv = _samples(d)[5]
    checks = signature_checks(nv, CHAIN)
    # outer + 3 view changes + 3 prepared sigs + 3 commit sigs + embedded pre-prepare
    assert len(checks) == 1 + 3 + 3 + 3 + 1
    assert all(d.keys.verify(*c) for c in checks)
