"""Hostile relayers against sys.anchor, through real transactions on real chains: every forged
header, certificate, proof or packet is refused with its own code, charges gas, and changes
nothing (the client's trusted height stays put)."""

from __future__ import annotations

import pytest

from chainnode.anchor import errors as E
from chainnode.core.certificate import vote_payload
from chainnode.crypto import domain
from tests.unit.anchor.two_chains import (
    ANCHOR,
    Net,
    failed,
    linked_pair,
    ok,
    recv,
    sent_packets,
)

SOURCE = """
@export
def push(dst, n):
    return send_packet(dst, 'sink', 'take', {'n': n}, 0)
"""
SINK = """
@export
def take(src_chain, src_contract, sequence, payload):
    require(ctx.caller == 'sys.anchor', 'NOT_ANCHOR')
    storage.set(['got', sequence], payload['n'])
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    main, edge = linked_pair(tmp_path_factory.mktemp("anchor-adv"), ("main", 4, 31_000),
                             ("edge-4", 4, 32_000), {"src": SOURCE}, {"sink": SINK})
    yield main, edge
    main.close()
    edge.close()


def _cert(main: Net, votes_of: list[int], *, chain: str = "main", dom: str = "commit",
          dup: bool = False) -> list:
    header = main.header()
    t = main.clock.ms
    votes = []
    for i in votes_of:
        payload = vote_payload("commit", "main", 0, header.height, header.hash(), t)
        votes.append([i, t, domain.sign(main.vkeys[i], dom, chain, payload)])
    if dup:
        votes.insert(1, list(votes[0]))
    return ["main", header.height, 0, header.hash(), votes]


@pytest.mark.parametrize("case, cert_args, code", [
    ("one signature short of quorum", ([0, 1], {}), E.NO_QUORUM),
    ("a signer counted twice", ([0, 1], {"dup": True}), E.DUPLICATE_SIGNER),
    ("votes signed for another chain", ([0, 1, 2], {"chain": "edge-4"}), E.BAD_SIGNATURE),
    ("votes signed in another domain", ([0, 1, 2], {"dom": "prepare"}), E.BAD_SIGNATURE),
])
def test_forged_certificates_are_refused(pair, case, cert_args, code):
    main, edge = pair
    main.block()
    before = edge.view("client", chain_id="main")["latest_height"]
    ids, kw = cert_args
    rc = failed(edge.send(edge.relayer, ANCHOR, "update",
                          {"chain_id": "main", "header": main.header().to_wire(),
                           "certificate": _cert(main, ids, **kw), "validators": None}), code)
    assert rc.gas_used > 0, case
    assert edge.view("client", chain_id="main")["latest_height"] == before
    # the honest quorum of the same header still goes through
    ok(edge.send(edge.relayer, ANCHOR, "update",
                 {"chain_id": "main", "header": main.header().to_wire(),
                  "certificate": _cert(main, [0, 1, 3]), "validators": None}))


def test_replayed_and_out_of_order_packets(pair):
    main, edge = pair
    p = [sent_packets(ok(main.call("src", "push", dst="edge-4", n=n)))[0] for n in (1, 2, 3)]
    ok(edge.send(edge.relayer, ANCHOR, "update",
                 {"chain_id": "main", "header": main.header().to_wire(),
                  "certificate": main.cert().to_wire(), "validators": None}))
    failed(recv(edge, main, p[1]), E.OUT_OF_ORDER)
    ok(recv(edge, main, p[0]))
    for _ in range(3):  # racing relayers: clear no-ops, never failed receipts
        again = ok(recv(edge, main, p[0]))
        assert again.value["result"] == E.ALREADY_RECEIVED and again.events == ()
    failed(recv(edge, main, p[2]), E.OUT_OF_ORDER)
    ok(recv(edge, main, p[1]))
    ok(recv(edge, main, p[2]))
    assert edge.view("next_recv", chain_id="main") == 4
