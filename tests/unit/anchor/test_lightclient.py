"""The light client's verification rules, each refusal with its own code (real SM2)."""

from __future__ import annotations

import dataclasses

import pytest
from lc_util import EDGE, EdgeChain, now_for, sign_cert, vset

from chainnode.anchor import errors as E
from chainnode.anchor import lightclient as lc
from chainnode.anchor.errors import AnchorError

FOUR = [0, 1, 2, 3]


def refused(code: str, fn, *args, **kw) -> AnchorError:
    with pytest.raises(AnchorError) as info:
        fn(*args, **kw)
    assert info.value.code == code, info.value
    return info.value


@pytest.fixture(scope="module")
def edge() -> EdgeChain:
    e = EdgeChain()
    # heights 1..4 signed by v0..v3; at 4 the set changes to v4..v7 (100 %) for 5..
    e.grow(4, FOUR, change_to={4: [4, 5, 6, 7]})
    e.grow(4, [4, 5, 6, 7])
    return e


def up(client, edge, h, signers=None, vs="auto", now=None, charge=lambda g: None, **kw):
    nxt = edge.next_set(h) if vs == "auto" else vs
    return lc.update(client, edge.wire(h), edge.cert(h, signers, **kw), nxt,
                     now_for(h) if now is None else now, charge)


def test_adjacent_headers_with_quorum_are_anchored_and_gas_is_per_signature(edge):
    client = edge.client(1)
    spent = []
    client, cons = up(client, edge, 2, charge=spent.append)
    assert cons.height == 2 and cons.header_hash == edge.headers[2].hash()
    assert cons.state_root == edge.headers[2].state_root
    assert spent == [4 * lc.SIG_GAS]
    client, cons = up(client, edge, 3, signers=[0, 1, 3])  # exactly 2f+1 of 4
    assert client.latest.height == 3 and client.updated_at_ms == now_for(3)


def test_one_signature_short_of_quorum_is_refused(edge):
    refused(E.NO_QUORUM, up, edge.client(1), edge, 2, signers=[0, 2])


def test_a_signer_counted_twice_is_refused(edge):
    cert = edge.cert(2, [0, 1, 2])
    cert[4].insert(1, list(cert[4][0]))  # validator 0's valid vote twice: 4 "signers"
    refused(E.DUPLICATE_SIGNER, lc.update, edge.client(1), edge.wire(2), cert, None, now_for(2))
    cert = edge.cert(2, [0, 1])
    cert[4].append(list(cert[4][1]))
    refused(E.DUPLICATE_SIGNER, lc.update, edge.client(1), edge.wire(2), cert, None, now_for(2))


@pytest.mark.parametrize("kw", [{"chain": "main"}, {"dom": "prepare"}, {"dom": "tx"}])
def test_signatures_for_another_chain_or_domain_are_refused(edge, kw):
    refused(E.BAD_SIGNATURE, up, edge.client(1), edge, 2, **kw)


def test_no_gas_is_spent_and_no_signature_checked_before_cheap_checks_pass(edge):
    spent = []
    refused(E.NO_QUORUM, up, edge.client(1), edge, 2, signers=[1], charge=spent.append)
    refused(E.STALE_HEIGHT, up, edge.client(2), edge, 2, charge=spent.append)
    assert spent == []


def test_header_of_another_chain_is_refused(edge):
    other = EdgeChain(chain_id="edge-2")
    other.grow(2, FOUR)
    client = edge.client(1)
    refused(E.WRONG_CHAIN, lc.update, client, other.wire(2), other.cert(2), None, now_for(2))
    # right header, certificate relabelled to another chain
    cert = edge.cert(2)
    cert[0] = "edge-2"
    refused(E.WRONG_CHAIN, lc.update, client, edge.wire(2), cert, None, now_for(2))


def test_certificate_of_another_block_is_refused(edge):
    refused(E.CERT_MISMATCH, lc.update, edge.client(1), edge.wire(2), edge.cert(3), None,
            now_for(3))


def test_validator_set_change_is_followed_sequentially(edge):
    client = edge.client(2)
    client, _ = up(client, edge, 3)
    refused(E.VALSET_REQUIRED, up, client, edge, 4, vs=None)
    refused(E.VALSET_HASH, up, client, edge, 4, vs=vset([4, 5, 6, 8]))
    client, _ = up(client, edge, 4)  # signed by the old set, announces the new one
    assert client.validators == tuple((n, k) for n, k in vset([4, 5, 6, 7]))
    client, cons = up(client, edge, 5)  # signed by the new set only
    assert cons.validators_hash == edge.headers[5].validators_hash
    # after the change, a header for height 6 made by the OLD set is refused
    forged = EdgeChain(headers=dict(edge.headers), sets=dict(edge.sets))
    forged.headers = {h: v for h, v in edge.headers.items() if h <= 5}
    forged.sets = {h: s for h, s in edge.sets.items() if h <= 5}
    forged.sets[6] = FOUR
    forged.grow(1, FOUR)
    refused(E.VALSET_MISMATCH, up, client, forged, 6)


def test_skipping_is_only_within_the_trusted_set(edge):
    client = edge.client(1)
    refused(E.VALSET_MISMATCH, up, client, edge, 6)  # jumps across the change at 4
    client2, cons = up(client, edge, 3)  # skips 2: same set, allowed
    assert cons.height == 3
    strict = edge.client(1, allow_skip=False)
    refused(E.NOT_ADJACENT, up, strict, edge, 3)
    after = edge.client(5)
    client3, cons = up(after, edge, 8)  # skips within the new set
    assert cons.height == 8


def test_heights_times_and_links(edge):
    client = edge.client(3)
    refused(E.STALE_HEIGHT, up, client, edge, 3)
    refused(E.STALE_HEIGHT, up, client, edge, 2)
    # adjacent header whose prev_hash is not the trusted header
    bad = dataclasses.replace(edge.headers[4], prev_hash=bytes(32))
    refused(E.BAD_LINK, lc.update, client, bad.to_wire(), sign_cert(bad, [0, 1, 2, 3]),
            vset([4, 5, 6, 7]), now_for(4))
    # time not after the trusted header's
    old = dataclasses.replace(edge.headers[4], timestamp_ms=edge.headers[3].timestamp_ms)
    refused(E.TIME_NOT_MONOTONIC, lc.update, client, old.to_wire(), sign_cert(old, FOUR),
            vset([4, 5, 6, 7]), now_for(4))
    # header from the future beyond the drift, measured in the host chain's time
    refused(E.TIME_DRIFT, up, client, edge, 4, now=edge.headers[4].timestamp_ms - 10_001)
    up(client, edge, 4, now=edge.headers[4].timestamp_ms - 9_999)


def test_expired_and_frozen_clients_refuse_updates(edge):
    client = edge.client(1)
    late = client.updated_at_ms + client.params.trusting_period_ms + 1
    assert lc.status(client, late) == lc.EXPIRED_STATUS
    refused(E.EXPIRED, up, client, edge, 2, now=late)
    frozen = dataclasses.replace(client, frozen_height=2)
    refused(E.FROZEN, up, frozen, edge, 2)


def test_caps_on_set_and_header_size(edge):
    refused(E.VALSET_TOO_LARGE, lc.parse_validators, vset(list(range(5))), 4)
    big = edge.wire(2)
    big[0] = "x" * 600
    refused(E.BAD_HEADER, lc.parse_header, big)
    refused(E.BAD_VALSET, lc.parse_validators, vset([1, 1]), 8)
    cert = edge.cert(2)
    cert[4] = cert[4] * 2  # more votes than validators: refused before anything else
    refused(E.BAD_CERT, lc.update, edge.client(1), edge.wire(2), cert, None, now_for(2))


def test_create_checks_the_trusted_set_and_genesis(edge):
    p = lc.ClientParams.from_wire({"trusting_period_ms": 60_000, "max_clock_drift_ms": 0})
    refused(E.VALSET_HASH, lc.create, EDGE, edge.genesis_hash, edge.wire(3), vset(FOUR[:3]), p)
    refused(E.BAD_HEADER, lc.create, EDGE, bytes(32), edge.wire(1), vset(FOUR), p)
    refused(E.BAD_PARAMS, lc.ClientParams.from_wire, {"trusting_period_ms": 5})
