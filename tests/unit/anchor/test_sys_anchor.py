"""sys.anchor between two in-process chains (main: 4 validators, edge: 1): clients created by
governance, certified headers relayed, proofs checked by contracts, packets both ways exactly
once, timeouts, misbehaviour freezing and governance recovery. Real SM2 everywhere."""

from __future__ import annotations

import dataclasses

import pytest
from two_chains import (
    ANCHOR,
    Clock,
    Net,
    acknowledge,
    create_client,
    failed,
    names,
    ok,
    recv,
    sent_packets,
    timeout,
    update,
)

from chainnode import codec
from chainnode.anchor import errors as E
from chainnode.anchor.lightclient import SIG_GAS
from chainnode.core.block import BlockHeader
from chainnode.core.certificate import vote_payload
from chainnode.crypto import domain
from chainnode.exec.system import SYSTEM_GAS

TARIFF = """
@export
def push(dst, price, timeout, handler="on_tariff"):
    return send_packet(dst, "meter", handler, {"price": price}, timeout)

@export
def on_packet_ack(dst_chain, sequence, ack):
    require(ctx.caller == 'sys.anchor' and ctx.caller_kind == 'contract', 'NOT_ANCHOR')
    storage.set(['ack', sequence], ack)

@export
def on_packet_timeout(dst_chain, sequence):
    require(ctx.caller == 'sys.anchor', 'NOT_ANCHOR')
    storage.set(['timeout', sequence], dst_chain)
"""

METER = """
@export
def on_tariff(src_chain, src_contract, sequence, payload):
    require(ctx.caller == 'sys.anchor' and ctx.caller_kind == 'contract', 'NOT_ANCHOR')
    storage.set('price', payload['price'])
    storage.set(['seen', sequence], src_chain + '/' + src_contract)
    return {'stored': payload['price']}

@export
def burn(src_chain, src_contract, sequence, payload):
    n = 0
    for i in range(50000):
        n += i
    return n

@export
def record(day, total):
    storage.set(['result', day], total)
    emit('DayResult', day=day, total=total)
"""

ACCEPT = """
@export
def accept(chain, height, day, total, proof):
    anchor_state(chain, height, 'meter', ['result', day], total, proof)
    h = anchor_header(chain, height)
    storage.set(['accepted', day], [total, height, h['time_ms']])
    return True

@export
def absent(chain, height, day, proof):
    return anchor_absent(chain, height, 'meter', ['result', day], proof)

@export
def receipt(chain, height, rc, path):
    r = anchor_receipt(chain, height, rc, path)
    storage.set('event', r['events'][0]['fields'])
    return r['events'][0]['name']
"""


@pytest.fixture
def nets(tmp_path):
    clock = Clock()
    main = Net(tmp_path, "main", 4, 11_000, clock)
    edge = Net(tmp_path, "edge-1", 1, 12_000, clock)
    main.deploy("tariff", TARIFF)
    main.deploy("accept", ACCEPT)
    edge.deploy("meter", METER)
    create_client(main, edge)
    create_client(edge, main)
    yield main, edge
    main.close()
    edge.close()


def stored(net: Net, contract: str, key):
    raw = net.db.state_get(contract, codec.encode(key))
    return None if raw is None else codec.decode(raw)


def test_clients_are_created_by_governance_and_follow_certified_headers(nets):
    main, edge = nets
    assert main.view("client", chain_id="edge-1")["status"] == "active"
    edge.call("meter", "record", day=1, total=5)
    rc = ok(update(main, edge))
    anchored = rc.value["height"]
    assert rc.value["result"] == "updated" and names(rc) == ["ClientUpdated"]
    assert rc.gas_used >= SYSTEM_GAS + 1 * SIG_GAS
    assert ok(update(main, edge)).value["result"] == "known"  # a second relayer: no-op
    rc = ok(update(edge, main))
    assert rc.gas_used >= SYSTEM_GAS + 4 * SIG_GAS  # gas per signature
    cons = main.view("consensus", chain_id="edge-1", height=anchored)
    assert cons["state_root"] == edge.header(anchored).state_root.hex()
    # gas too short for the signatures: refused, and only what was spent is charged
    edge.call("meter", "record", day=2, total=6)
    failed(update(main, edge, gas=SYSTEM_GAS + 1_000), E.OUT_OF_GAS)


def test_refusals_unregistered_chain_role_and_old_height(nets, tmp_path):
    main, edge = nets
    ghost = Net(tmp_path / "g", "ghost", 1, 13_000, main.clock)  # a chain nobody registered
    try:
        ghost.block()
        failed(update(main, ghost), E.NO_CLIENT)
    finally:
        ghost.close()
    edge.call("meter", "record", day=1, total=5)
    h = edge.height
    failed(main.send(main.member, ANCHOR, "update",
                     {"chain_id": "edge-1", "header": edge.header().to_wire(),
                      "certificate": edge.cert().to_wire()}), E.PERMISSION)
    edge.call("meter", "record", day=2, total=5)
    ok(update(main, edge))
    assert ok(update(main, edge, h)).value["result"] == E.ALREADY_UPDATED  # raced: a no-op


def test_contracts_accept_edge_results_only_with_valid_proofs(nets):
    main, edge = nets
    edge.call("meter", "record", day=7, total=12_345)
    ok(update(main, edge))
    h = edge.height
    proof = edge.state_proof("meter", ["result", 7])
    rc = ok(main.call("accept", "accept", chain="edge-1", height=h, day=7, total=12_345,
                      proof=proof))
    assert stored(main, "accept", ["accepted", 7])[:2] == [12_345, h]
    failed(main.call("accept", "accept", chain="edge-1", height=h, day=7, total=99_999,
                     proof=proof), E.BAD_STATE_PROOF)
    failed(main.call("accept", "accept", chain="edge-1", height=h + 50, day=7, total=12_345,
                     proof=proof), E.NO_HEIGHT)
    failed(main.call("accept", "accept", chain="edge-9", height=h, day=7, total=12_345,
                     proof=proof), E.NO_CLIENT)
    # absence: day 8 never recorded; day 7's membership proof cannot pass as its absence
    assert ok(main.call("accept", "absent", chain="edge-1", height=h, day=8,
                        proof=edge.state_proof("meter", ["result", 8]))).value is True
    failed(main.call("accept", "absent", chain="edge-1", height=h, day=7, proof=proof),
           E.BAD_ABSENCE_PROOF)
    # a receipt and its event, proven against the anchored receipt root of its block
    rec2 = edge.call("meter", "record", day=9, total=1)
    ok(update(main, edge))
    rh, leaf, path = edge.receipt_proof(rec2.tx_hash)
    assert ok(main.call("accept", "receipt", chain="edge-1", height=rh, rc=leaf,
                        path=path)).value == "DayResult"
    assert stored(main, "accept", "event") == {"day": 9, "total": 1}
    forged = leaf.replace(b"DayResult", b"DayResulT")
    failed(main.call("accept", "receipt", chain="edge-1", height=rh, rc=forged, path=path),
           E.BAD_RECEIPT_PROOF)
    assert rc.ok


def test_packets_down_and_acks_up_exactly_once(nets):
    main, edge = nets
    rc = ok(main.call("tariff", "push", dst="edge-1", price=58, timeout=0))
    (p1,) = sent_packets(rc)
    assert rc.value == 1 and p1[6] == 1
    ok(update(edge, main))
    rc = ok(recv(edge, main, p1))
    assert rc.value["result"] == "delivered" and rc.value["ack"] == {"ok": True,
                                                                     "result": {"stored": 58}}
    assert stored(edge, "meter", "price") == 58
    assert stored(edge, "meter", ["seen", 1]) == "main/tariff"
    again = ok(recv(edge, main, p1))  # a replay (or a second relayer): a clear no-op
    assert again.value["result"] == E.ALREADY_RECEIVED and again.events == ()
    ok(update(main, edge))
    rc = ok(acknowledge(main, edge, p1))
    assert rc.value["result"] == "acknowledged" and "PacketAcknowledged" in names(rc)
    assert stored(main, "tariff", ["ack", 1]) == {"ok": True, "result": {"stored": 58}}
    assert ok(acknowledge(main, edge, p1)).value["result"] == E.ALREADY_SETTLED
    assert stored(main, ANCHOR, ["commit", "edge-1", 1]) is None


def test_out_of_order_forged_and_misdirected_packets_are_refused(nets):
    main, edge = nets
    p1 = sent_packets(ok(main.call("tariff", "push", dst="edge-1", price=1, timeout=0)))[0]
    p2 = sent_packets(ok(main.call("tariff", "push", dst="edge-1", price=2, timeout=0)))[0]
    ok(update(edge, main))
    failed(recv(edge, main, p2), E.OUT_OF_ORDER)
    forged = list(p1)
    forged[5] = {"price": 1_000_000}
    failed(recv(edge, main, forged), E.BAD_STATE_PROOF)
    ok(recv(edge, main, p1))
    ok(recv(edge, main, p2))
    assert stored(edge, "meter", "price") == 2
    failed(recv(main, edge, p2), E.BAD_PACKET)  # not addressed to main


def test_timeout_is_proven_by_non_receipt_and_the_sender_is_told(nets):
    main, edge = nets
    deadline = edge.height + 2
    p1 = sent_packets(ok(main.call("tariff", "push", dst="edge-1", price=3,
                                   timeout=deadline)))[0]
    ok(update(main, edge))
    failed(timeout(main, edge, p1), E.NOT_TIMED_OUT)  # proof height below the timeout
    edge.block()
    edge.block()
    ok(update(main, edge))
    assert edge.height >= deadline
    rc = ok(timeout(main, edge, p1))
    assert rc.value["result"] == "timed_out" and "PacketTimedOut" in names(rc)
    assert stored(main, "tariff", ["timeout", 1]) == "edge-1"
    # the relayer still hands it to the edge to keep the channel moving: it is not delivered
    ok(update(edge, main))
    rc = ok(recv(edge, main, p1))
    assert rc.value["result"] == "timeout" and stored(edge, "meter", "price") is None
    assert ok(timeout(main, edge, p1)).value["result"] == E.ALREADY_SETTLED


def _conflicting(edge: Net, h: int):
    real = edge.header(h)
    fake = dataclasses.replace(real, state_root=bytes(31) + b"\x01")
    return ([real.to_wire(), edge.cert(h).to_wire(), edge.validators()],
            [fake.to_wire(), edge.certify(fake).to_wire(), edge.validators()])


def test_conflicting_headers_freeze_and_governance_recovers(nets):
    main, edge = nets
    edge.call("meter", "record", day=1, total=1)
    ok(update(main, edge))
    # the edge's only validator key signs a second header for an anchored height
    evidence = list(_conflicting(edge, edge.height))
    rc = ok(main.send(main.relayer, ANCHOR, "misbehaviour",
                      {"chain_id": "edge-1", "evidence": evidence}))
    assert rc.value["result"] == "frozen" and names(rc) == ["ClientFrozen"]
    again = ok(main.send(main.relayer, ANCHOR, "misbehaviour",
                         {"chain_id": "edge-1", "evidence": evidence[::-1]}))
    assert again.value["result"] == "already" and again.events == ()
    client = main.view("client", chain_id="edge-1")
    assert client["status"] == "frozen" and client["evidence"]["kind"] == "fork"
    edge.call("meter", "record", day=2, total=2)
    failed(update(main, edge), E.FROZEN)
    failed(main.call("tariff", "push", dst="edge-1", price=1, timeout=0), E.FROZEN)
    failed(main.call("accept", "accept", chain="edge-1", height=edge.height - 1, day=1,
                     total=1, proof=edge.state_proof("meter", ["result", 1])), E.FROZEN)
    # recovery: governance substitutes a newer trusted header
    payload = {"chain_id": "edge-1", "header_hex": codec.encode(edge.header().to_wire()).hex(),
               "validators": [[n, k.hex()] for n, k in edge.validators()]}
    rc = ok(main.send(main.admin, "sys.governance", "propose",
                      {"kind": "recover-client", "payload": payload}))
    assert "ClientRecovered" in names(rc)
    assert main.view("client", chain_id="edge-1")["status"] == "active"
    edge.call("meter", "record", day=3, total=3)
    ok(update(main, edge))


def test_misbehaviour_with_untrusted_keys_or_no_conflict_is_refused(nets):
    main, edge = nets
    edge.call("meter", "record", day=1, total=1)
    ok(update(main, edge))
    real, fake = _conflicting(edge, edge.height)
    failed(main.send(main.relayer, ANCHOR, "misbehaviour",
                     {"chain_id": "edge-1", "evidence": [real, real]}), E.BAD_EVIDENCE)
    failed(main.send(main.relayer, ANCHOR, "misbehaviour",
                     {"chain_id": "edge-1", "evidence": [real]}), E.BAD_EVIDENCE)
    # the edge key's vote for the fake header, but signed in main's domain
    header = BlockHeader.from_wire(fake[0])
    t = main.clock.tick()
    payload = vote_payload("commit", "edge-1", 0, header.height, header.hash(), t)
    fake[1] = ["edge-1", header.height, 0, header.hash(),
               [[0, t, domain.sign(edge.vkeys[0], "commit", "main", payload)]]]
    failed(main.send(main.relayer, ANCHOR, "misbehaviour",
                     {"chain_id": "edge-1", "evidence": [real, fake]}), E.BAD_SIGNATURE)
    assert main.view("client", chain_id="edge-1")["status"] == "active"


def test_expired_client_refuses_updates_until_recovered(nets):
    main, edge = nets
    edge.call("meter", "record", day=1, total=1)
    main.clock.tick(700_000)  # past the 600 s trusting period, no update meanwhile
    main.block()
    main.block()
    failed(update(main, edge), E.EXPIRED)
    assert main.view("client", chain_id="edge-1")["status"] == "expired"
    edge.block()
    edge.block()  # a header whose (BFT) time is past the tick
    payload = {"chain_id": "edge-1", "header_hex": codec.encode(edge.header().to_wire()).hex(),
               "validators": [[n, k.hex()] for n, k in edge.validators()]}
    ok(main.send(main.admin, "sys.governance", "propose",
                 {"kind": "recover-client", "payload": payload}))
    edge.block()
    ok(update(main, edge))


def test_validator_set_change_is_followed_through_transactions(nets):
    """An edge chain replacing its whole set (4 -> 4 new keys at height 4), relayed to
    sys.anchor on main: followed sequentially; the old set's header after it is refused."""
    from lc_util import EdgeChain

    main, _ = nets
    e = EdgeChain(chain_id="edge-9")
    e.grow(4, [0, 1, 2, 3], change_to={4: [4, 5, 6, 7]})
    e.grow(2, [4, 5, 6, 7])
    ok(main.send(main.admin, "sys.governance", "propose",
                 {"kind": "create-client", "payload": e.create_payload(2)}))

    def up(h, header=None, cert=None, vs="auto"):
        return main.send(main.relayer, ANCHOR, "update",
                         {"chain_id": "edge-9", "header": header or e.wire(h),
                          "certificate": cert or e.cert(h),
                          "validators": e.next_set(h) if vs == "auto" else vs})

    ok(up(3))
    failed(up(4, vs=None), E.VALSET_REQUIRED)
    rc = ok(up(4))
    assert rc.events[0][2]["validators_changed"] is True
    failed(up(5, cert=e.cert(5, [0, 1])), E.NO_QUORUM)
    ok(up(5))
    old = EdgeChain(chain_id="edge-9", headers={h: e.headers[h] for h in range(1, 6)},
                    sets={**{h: e.sets[h] for h in range(1, 6)}, 6: [0, 1, 2, 3]})
    old.grow(1, [0, 1, 2, 3])
    failed(up(6, header=old.wire(6), cert=old.cert(6)), E.VALSET_MISMATCH)
    ok(up(6))


def test_a_failing_destination_method_acks_an_error_and_short_gas_fails_the_tx(nets):
    main, edge = nets
    p1 = sent_packets(ok(main.call("tariff", "push", dst="edge-1", price=1, timeout=0,
                                   handler="burn")))[0]
    p2 = sent_packets(ok(main.call("tariff", "push", dst="edge-1", price=1, timeout=0,
                                   handler="missing")))[0]
    ok(update(edge, main))
    args = {"packet": p1, "height": main.height,
            "proof": main.state_proof(ANCHOR, ["commit", "edge-1", 1])}
    # too little gas for the delivery: the whole tx fails, nothing is acked, it stays pending
    failed(edge.send(edge.relayer, ANCHOR, "recv", args, gas=SYSTEM_GAS + 50_000),
           E.OUT_OF_GAS)
    assert edge.view("next_recv", chain_id="main") == 1
    assert ok(edge.send(edge.relayer, ANCHOR, "recv", args)).value["ack"]["ok"] is True
    rc = ok(recv(edge, main, p2))  # the method does not exist: received, with an error ack
    assert rc.value["ack"]["ok"] is False and rc.value["ack"]["code"] == "VM_NO_METHOD"
    ok(update(main, edge))
    ok(acknowledge(main, edge, p2))
    assert stored(main, "tariff", ["ack", 2])["code"] == "VM_NO_METHOD"


def test_anchored_heights_are_pruned_beyond_the_window(nets):
    from lc_util import EdgeChain

    main, _ = nets
    e = EdgeChain(chain_id="edge-8")
    e.grow(5, [0, 1, 2, 3])
    ok(main.send(main.admin, "sys.governance", "propose",
                 {"kind": "create-client", "payload": e.create_payload(1, window=2)}))
    for h in (2, 3, 5):
        ok(main.send(main.relayer, ANCHOR, "update",
                     {"chain_id": "edge-8", "header": e.wire(h), "certificate": e.cert(h)}))
    assert main.view("client", chain_id="edge-8")["heights"] == [3, 5]
    assert main.view("consensus", chain_id="edge-8", height=2) is None
    cons = main.view("consensus", chain_id="edge-8", height=5)
    assert cons["receipt_root"] == e.headers[5].receipt_root.hex()
    assert cons["tx_root"] == e.headers[5].tx_root.hex()
    assert cons["time_ms"] == e.headers[5].timestamp_ms
