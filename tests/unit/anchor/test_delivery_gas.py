"""`delivery_gas`, the budget of a packet delivery or callback, is a live chain parameter:
governance changes it from the next block on, and its rail (<= tx_gas_limit minus the recv
overhead) is checked whichever of the two parameters a proposal changes."""

from __future__ import annotations

import pytest
from two_chains import ANCHOR, Net, failed, linked_pair, ok, sent_packets, update

from chainnode.anchor import errors as E
from chainnode.core.genesis import DEFAULT_PARAMS
from chainnode.exec import params
from chainnode.exec.params import RECV_OVERHEAD_GAS, ParamError
from tests.adversarial.test_anchor_redteam_packets import SINK, SOURCE  # sink.hog never ends


def refused(current: dict, name: str, value: int) -> str:
    with pytest.raises(ParamError) as info:
        params.check_change(current, name, value)
    assert info.value.code == "GOV_BAD_PAYLOAD"
    return info.value.message


def test_the_rail_is_checked_from_both_sides():
    cur = dict(DEFAULT_PARAMS)
    room = cur["tx_gas_limit"] - RECV_OVERHEAD_GAS
    params.check_change(cur, "delivery_gas", room)  # exactly at the rail
    assert "recv overhead" in refused(cur, "delivery_gas", room + 1)
    params.check_change(cur, "tx_gas_limit", cur["delivery_gas"] + RECV_OVERHEAD_GAS)
    assert "delivery_gas" in refused(cur, "tx_gas_limit",
                                     cur["delivery_gas"] + RECV_OVERHEAD_GAS - 1)
    refused(cur, "delivery_gas", 99_999)  # below the floor
    with pytest.raises(ParamError, match="takes a int"):
        params.check_change(cur, "delivery_gas", True)


def set_param(net: Net, name: str, value: int):
    return net.send(net.admin, "sys.governance", "propose",
                    {"kind": "set-param", "payload": {"name": name, "value": value}})


def recv(on: Net, of: Net, packet: list, gas: int):
    proof = of.state_proof(ANCHOR, ["commit", on.chain_id, packet[6]])
    return on.send(on.relayer, ANCHOR, "recv",
                   {"packet": packet, "height": of.height, "proof": proof}, gas=gas)


def test_a_lowered_budget_governs_deliveries_and_unsafe_changes_are_refused(tmp_path):
    main, edge = linked_pair(tmp_path, ("main", 1, 51_000), ("edge-3", 1, 52_000),
                             {"src": SOURCE}, {"sink": SINK})
    try:
        hog = sent_packets(ok(main.call("src", "push", dst="edge-3", handler="hog", n=1)))[0]
        ok(update(edge, main))
        # under the default 5,000,000 budget a 2,000,000-gas recv cannot give it all: fails
        failed(recv(edge, main, hog, gas=2_000_000), E.OUT_OF_GAS)
        ok(set_param(edge, "delivery_gas", 500_000))
        assert edge.chain.param("delivery_gas") == 500_000
        # the same transaction now covers the whole (lower) budget: an error ack, channel moves
        rc = ok(recv(edge, main, hog, gas=2_000_000))
        assert rc.value["ack"]["ok"] is False and rc.value["ack"]["code"] == E.OUT_OF_GAS
        assert rc.gas_used < 500_000 + RECV_OVERHEAD_GAS
        assert edge.view("next_recv", chain_id="main") == 2
        # the rail, through governance, from both sides
        failed(set_param(edge, "tx_gas_limit", 500_000 + RECV_OVERHEAD_GAS - 1),
               "GOV_BAD_PAYLOAD")
        failed(set_param(edge, "delivery_gas", edge.chain.param("tx_gas_limit")),
               "GOV_BAD_PAYLOAD")
        assert edge.chain.param("delivery_gas") == 500_000
    finally:
        main.close()
        edge.close()
