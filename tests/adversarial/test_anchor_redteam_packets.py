"""Red team, packets: a hostile contract author must not be able to block the ordered channel
between two chains by sending a packet whose delivery can never finish within a transaction's
gas (an endless loop at the destination), nor to have the destination store, unpaid, an
acknowledgement too large to ever be relayed back."""

from __future__ import annotations

import pytest

from chainnode import codec
from chainnode.anchor import errors as E
from chainnode.exec.anchor import DELIVERY_GAS
from tests.unit.anchor.two_chains import (
    ANCHOR,
    Net,
    acknowledge,
    failed,
    linked_pair,
    ok,
    sent_packets,
    update,
)


def recv(on: Net, of: Net, packet: list, gas: int = 5_000_000):
    proof = of.state_proof(ANCHOR, ["commit", on.chain_id, packet[6]])
    return on.send(on.relayer, ANCHOR, "recv",
                   {"packet": packet, "height": of.height, "proof": proof}, gas=gas)

SOURCE = """
@export
def push(dst, handler, n):
    return send_packet(dst, 'sink', handler, {'n': n}, 0)

@export
def on_packet_ack(dst_chain, sequence, ack):
    if sequence == 2:
        n = 0
        for i in range(10 ** 9):
            n += i
    storage.set(['acked', sequence], True)
"""
SINK = """
@export
def take(src_chain, src_contract, sequence, payload):
    storage.set(['got', sequence], payload['n'])

@export
def big(src_chain, src_contract, sequence, payload):
    storage.set(['big', sequence], 1)
    return 'x' * 200000

@export
def hog(src_chain, src_contract, sequence, payload):
    n = 0
    for i in range(10 ** 9):
        n += i
    return n
"""


@pytest.fixture
def pair(tmp_path):
    main, edge = linked_pair(tmp_path, ("main", 1, 41_000), ("edge-2", 1, 42_000),
                             {"src": SOURCE}, {"sink": SINK})
    yield main, edge
    main.close()
    edge.close()


def test_an_endless_delivery_gets_an_error_ack_and_the_channel_moves_on(pair):
    main, edge = pair
    hog = sent_packets(ok(main.call("src", "push", dst="edge-2", handler="hog", n=1)))[0]
    take = sent_packets(ok(main.call("src", "push", dst="edge-2", handler="take", n=2)))[0]
    ok(update(edge, main))
    # less gas than a delivery's budget: the tx fails, nothing is acked (no forged error ack)
    failed(recv(edge, main, hog, gas=DELIVERY_GAS // 2), E.OUT_OF_GAS)
    assert edge.view("next_recv", chain_id="main") == 1
    # the full budget and more: the loop is cut at the budget, whatever the tx's limit was
    rc = ok(recv(edge, main, hog, gas=DELIVERY_GAS + 1_000_000))
    assert rc.value["ack"] == {"ok": False, "code": E.OUT_OF_GAS,
                               "message": rc.value["ack"]["message"]}
    assert rc.gas_used < DELIVERY_GAS + 1_000_000
    assert edge.view("next_recv", chain_id="main") == 2
    ok(recv(edge, main, take))
    assert edge.view("next_recv", chain_id="main") == 3


def test_a_huge_return_value_becomes_a_small_error_ack(pair):
    main, edge = pair
    big = sent_packets(ok(main.call("src", "push", dst="edge-2", handler="big", n=1)))[0]
    ok(update(edge, main))
    rc = ok(recv(edge, main, big))
    assert rc.value["ack"]["ok"] is False and rc.value["ack"]["code"] == E.ACK_TOO_LARGE
    assert edge.view("next_recv", chain_id="main") == 2
    record = edge.db.state_get(ANCHOR, codec.encode(["ack", "main", 1]))
    assert len(record) < 1_000
    assert edge.db.state_get("sink", codec.encode(["big", 1])) is None  # effects discarded
    # and the acknowledgement can be relayed back and settles the packet
    ok(update(main, edge))
    assert ok(acknowledge(main, edge, big)).value["result"] == "acknowledged"


def test_an_endless_callback_still_settles_the_packet(pair):
    main, edge = pair
    p1 = sent_packets(ok(main.call("src", "push", dst="edge-2", handler="take", n=1)))[0]
    p2 = sent_packets(ok(main.call("src", "push", dst="edge-2", handler="take", n=2)))[0]
    ok(update(edge, main))
    ok(recv(edge, main, p1))
    ok(recv(edge, main, p2))
    ok(update(main, edge))
    record = edge.view("ack", chain_id="main", sequence=2)
    proof = edge.state_proof(ANCHOR, ["ack", "main", 2])
    rc = ok(main.send(main.relayer, ANCHOR, "acknowledge",
                      {"packet": p2, "ack": record["ack"], "height": edge.height, "proof": proof},
                      gas=DELIVERY_GAS + 1_000_000))
    assert rc.value["result"] == "acknowledged" and rc.value["callback_ok"] is False
    assert "PacketCallbackFailed" in [n for _, n, _ in rc.events]
