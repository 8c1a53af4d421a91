"""Red team, misbehaviour evidence: a relayer must not be able to freeze an honest client.

- Replay: the evidence that froze a client is public (event and view). After governance
  recovers the client — often with the same validators, e.g. an edge chain's single one —
  re-submitting that old evidence must not freeze it again.
- Departed sets: validators the other chain replaced (whose keys are retired, maybe leaked)
  must not be able to freeze the client by signing two headers at heights they no longer sign.
"""

from __future__ import annotations

import dataclasses

import pytest

from chainnode import codec
from chainnode.anchor import errors as E
from tests.unit.anchor.lc_util import EdgeChain, vhash, vset
from tests.unit.anchor.two_chains import ANCHOR, Clock, Net, create_client, failed, ok, update

A, B = [0, 1, 2, 3], [4, 5, 6, 7]


@pytest.fixture
def main_edge(tmp_path):
    clock = Clock()
    main = Net(tmp_path, "main", 1, 51_000, clock)
    edge = Net(tmp_path, "edge-1", 1, 52_000, clock)
    edge.block()
    create_client(main, edge)
    yield main, edge
    main.close()
    edge.close()


def _misbehaviour(main: Net, chain: str, evidence: list):
    return main.send(main.relayer, ANCHOR, "misbehaviour",
                     {"chain_id": chain, "evidence": evidence})


def test_replayed_evidence_does_not_refreeze_a_recovered_client(main_edge):
    main, edge = main_edge
    edge.block()
    ok(update(main, edge))
    h = edge.height
    real = edge.header(h)
    fake = dataclasses.replace(real, state_root=bytes(31) + b"\x01")
    evidence = [[real.to_wire(), edge.cert(h).to_wire(), edge.validators()],
                [fake.to_wire(), edge.certify(fake).to_wire(), edge.validators()]]
    assert ok(_misbehaviour(main, "edge-1", evidence)).value["result"] == "frozen"
    edge.block()
    payload = {"chain_id": "edge-1", "header_hex": codec.encode(edge.header().to_wire()).hex(),
               "validators": [[n, k.hex()] for n, k in edge.validators()]}
    ok(main.send(main.admin, "sys.governance", "propose",
                 {"kind": "recover-client", "payload": payload}))
    assert main.view("client", chain_id="edge-1")["status"] == "active"
    # anyone replays the public evidence of the fork that governance already dealt with
    failed(_misbehaviour(main, "edge-1", evidence), E.VALSET_MISMATCH)
    assert main.view("client", chain_id="edge-1")["status"] == "active"
    edge.block()
    ok(update(main, edge))


def _edge_with_departed_set(main: Net) -> EdgeChain:
    """edge-9: set A signs 1..3, announces B at 3; B signs 4.. (a 100 % change)."""
    e = EdgeChain(chain_id="edge-9")
    e.grow(6, A, change_to={3: B})
    ok(main.send(main.admin, "sys.governance", "propose",
                 {"kind": "create-client", "payload": e.create_payload(1)}))
    for h in (2, 3, 4, 5):
        ok(main.send(main.relayer, ANCHOR, "update",
                     {"chain_id": "edge-9", "header": e.wire(h), "certificate": e.cert(h),
                      "validators": e.next_set(h)}))
    return e


def _signed_by_a(e: EdgeChain, h: int, salt: bytes) -> list:
    """A header of height h that the departed set A claims to sign (dated at height 1), and
    A's certificate."""
    base = e.headers[min(h, max(e.headers))]
    hdr = dataclasses.replace(base, height=h, state_root=bytes(31) + salt,
                              timestamp_ms=e.headers[1].timestamp_ms,
                              validators_hash=vhash(A), next_validators_hash=vhash(A))
    forged = EdgeChain(chain_id="edge-9", headers={h: hdr}, sets={h: A})
    return [hdr.to_wire(), forged.cert(h), vset(A)]


def test_a_departed_set_cannot_freeze_the_client(main_edge):
    main, _ = main_edge
    e = _edge_with_departed_set(main)
    # a fork above the trusted height, signed by the set that left at height 3
    failed(_misbehaviour(main, "edge-9", [_signed_by_a(e, 50, b"\x01"),
                                          _signed_by_a(e, 50, b"\x02")]), E.VALSET_MISMATCH)
    # a header conflicting with anchored height 4, which B (not A) signed
    failed(_misbehaviour(main, "edge-9", [_signed_by_a(e, 4, b"\x03")]), E.VALSET_MISMATCH)
    # time going backwards: the real height 5 and A's height-60 header dated before it
    late = _signed_by_a(e, 60, b"\x04")
    assert late[0][3] <= e.headers[5].timestamp_ms
    failed(_misbehaviour(main, "edge-9", [[e.wire(5), e.cert(5), vset(B)], late]),
           E.VALSET_MISMATCH)
    assert main.view("client", chain_id="edge-9")["status"] == "active"
    # the set that does sign now still can be caught: B forks at 50 and the client freezes
    b1, b2 = (dataclasses.replace(e.headers[5], height=50, state_root=bytes(31) + s)
              for s in (b"\x05", b"\x06"))
    ev = [[h.to_wire(), EdgeChain(chain_id="edge-9", headers={50: h}, sets={50: B}).cert(50),
           vset(B)] for h in (b1, b2)]
    assert ok(_misbehaviour(main, "edge-9", ev)).value["result"] == "frozen"


def test_a_fork_at_a_skipped_height_is_judged_by_the_set_trusted_below_it(main_edge):
    main, _ = main_edge
    e = EdgeChain(chain_id="edge-7")
    e.grow(6, A, change_to={4: B})
    ok(main.send(main.admin, "sys.governance", "propose",
                 {"kind": "create-client", "payload": e.create_payload(1)}))
    for h in (2, 4, 6):  # 3 and 5 skipped; A signs 1..4 and announces B at 4
        ok(main.send(main.relayer, ANCHOR, "update",
                     {"chain_id": "edge-7", "header": e.wire(h), "certificate": e.cert(h),
                      "validators": e.next_set(h)}))

    def forked(h: int, ids: list[int], salt: bytes) -> list:
        hdr = dataclasses.replace(e.headers[h], state_root=bytes(31) + salt,
                                  validators_hash=vhash(ids))
        return [hdr.to_wire(), EdgeChain(chain_id="edge-7", headers={h: hdr},
                                         sets={h: ids}).cert(h), vset(ids)]

    # height 5 was skipped; the set named at 4 (B) signs it, not A
    failed(_misbehaviour(main, "edge-7", [forked(5, A, b"\x01"), forked(5, A, b"\x02")]),
           E.VALSET_MISMATCH)
    # height 3 was skipped too; A, trusted after 2, signed it: A's fork there freezes
    rc = ok(_misbehaviour(main, "edge-7", [forked(3, A, b"\x03"), forked(3, A, b"\x04")]))
    assert rc.value["result"] == "frozen" and rc.value["frozen_height"] == 3
