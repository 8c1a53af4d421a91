"""edge_params (tariffs down) and district_results (a district's day up) between two in-process
chains with real sys.anchor packets: delivered only by proof, from the right contract and
chain, applied to the edge's billing, recorded on main with the heights and times."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anchor"))
from two_chains import (  # noqa: E402
    Clock,
    Net,
    acknowledge,
    create_client,
    failed,
    ok,
    recv,
    sent_packets,
    update,
)

from chainnode.core.tx import build_tx  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"
TARIFF = {"flat": 6000, "bounds": [100_000], "incs": [0, 700], "tou": {"peak": 6500, "valley": 3000}}
D = 20270115  # the local (UTC+8) date of two_chains.T0, so readings bill in month D // 100
ROGUE = """
@export
def fake(dst, target, handler, payload):
    return send_packet(dst, target, handler, payload)
"""


def deploy(net: Net, name: str, **init) -> None:
    src = (CONTRACTS / f"{name}.py").read_text()
    ok(net.block(build_tx(net.admin, net.chain_id, "deploy", name, "deploy",
                          {"source": src, "init_args": init}, expires_at=net.height + 50,
                          gas_limit=50_000_000))[0])


def _q(net: Net, contract: str, method: str, args: dict):
    """A @view against the chain's committed state, as POST /query runs it."""
    r = net.chain.executor.query(net.db, contract, method, args, net.height, net.clock.ms)
    assert r.ok, (r.error_code, r.error_message)
    return r.value


@pytest.fixture
def nets(tmp_path):
    clock = Clock()
    main = Net(tmp_path, "main", 1, 21_000, clock)
    edge = Net(tmp_path, "edge-1", 1, 22_000, clock)
    for n in (main, edge):
        n.deploy("rogue", ROGUE)
    deploy(main, "edge_params")
    deploy(main, "district_results")
    deploy(edge, "billing")
    deploy(edge, "district", billing_contract="billing")
    deploy(edge, "edge_params", main_chain="main")
    deploy(edge, "district_results", main_chain="main")
    ok(edge.call("billing", "grant_role", account="edge_params", role="admin"))
    create_client(main, edge)
    create_client(edge, main)
    yield main, edge
    main.close()
    edge.close()


def relay(on: Net, of: Net, rc) -> list:
    """Carry every packet `rc` sent from `of` to `on` and its ack back; the recv receipts."""
    out = []
    for p in sent_packets(rc):
        ok(update(on, of))
        out.append(ok(recv(on, of, p)))
        ok(update(of, on))
        ok(acknowledge(of, on, p))
    return out


def test_tariff_goes_down_by_proof_and_is_applied_to_edge_billing(nets):
    main, edge = nets
    assert _q(edge, "billing", "get_tariff", {"tariff_id": "zj_res"})["flat"] == 5380
    rc = ok(main.call("edge_params", "push", chains=["edge-1"], tariff_id="zj_res",
                      tariff=TARIFF, params={"warn_threshold": 2500}))
    assert rc.value["version"] == 1
    (got,) = relay(edge, main, rc)
    assert got.value["ack"]["ok"], got.value
    t = _q(edge, "billing", "get_tariff", {"tariff_id": "zj_res"})
    assert (t["flat"], t["bounds"], t["tou"]) == (6000, [100_000], TARIFF["tou"])
    assert _q(edge, "billing", "get_param", {"name": "warn_threshold"}) == 2500
    applied = _q(edge, "edge_params", "get_applied", {})
    assert applied["version"] == 1 and applied["src_chain"] == "main"
    assert applied["applied_height"] == edge.height
    assert _q(main, "edge_params", "get_push", {"chain": "edge-1", "version": 1})["ack"]["ok"]


def test_edge_params_refuse_direct_calls_other_senders_and_non_admins(nets):
    main, edge = nets
    failed(edge.call("edge_params", "apply", src_chain="main", src_contract="edge_params",
                     sequence=1, payload={"version": 9, "tariff_id": "zj_res", "tariff": TARIFF,
                                          "params": {}}), "NOT_ANCHOR")
    # a packet from another contract on main is delivered, but refused by edge_params
    rc = ok(main.call("rogue", "fake", dst="edge-1", target="edge_params", handler="apply",
                      payload={"version": 9, "tariff_id": "zj_res", "tariff": TARIFF,
                               "params": {}, "sent_height": 1, "sent_ms": 1}))
    (got,) = relay(edge, main, rc)
    assert got.value["ack"]["code"] == "NOT_MAIN"
    assert _q(edge, "billing", "get_tariff", {"tariff_id": "zj_res"})["flat"] == 5380
    failed(main.send(main.member, "edge_params", "push",
                     {"chains": ["edge-1"], "tariff_id": "zj_res", "tariff": TARIFF},
                     kind="call"), "PERMISSION_DENIED")
    failed(main.call("edge_params", "push", chains=["edge-1"], tariff_id="zj_res",
                     tariff={"flat": 1}), "BAD_INPUT")


def edge_day(edge: Net) -> None:
    """One district, two meters, a master meter and one bill on the edge."""
    ok(edge.call("billing", "grant_role", account=edge.admin_address, role="terminal"))
    ok(edge.call("district", "grant_role", account=edge.admin_address, role="terminal"))
    ok(edge.call("district_results", "grant_role", account=edge.admin_address, role="terminal"))
    ok(edge.call("billing", "add_customers", customers=[
        {"customer": c, "balance": 100_000} for c in ("C1", "C2")]))
    ok(edge.call("billing", "add_meters", meters=[
        {"meter": c, "customer": c, "ct": 1, "reading": 1000} for c in ("C1", "C2")]))
    ok(edge.call("district", "add_district", district="D1"))
    ok(edge.call("district", "add_transformer", transformer="T-D1", district="D1", rated_kva=100))
    ok(edge.call("district", "add_meters", district="D1", meters=[
        {"meter": c, "transformer": "T-D1", "phase": "A"} for c in ("C1", "C2")]))
    read_ms = edge.clock.ms
    ok(edge.call("billing", "submit_readings", readings=[
        {"meter": "C1", "value": 2000, "read_ms": read_ms},
        {"meter": "C2", "value": 1500, "read_ms": read_ms}]))
    ok(edge.call("district", "submit_meter_days", district="D1", date=D, items=[
        {"meter": "C1", "energy": 1000, "reading": 2000},
        {"meter": "C2", "energy": 500, "reading": 1500}]))
    ok(edge.call("district", "submit_master", district="D1", date=D, supply=1600))
    ok(edge.call("district", "evaluate_line_loss", district="D1", date=D))


def publish(edge: Net):
    return edge.call("district_results", "publish", district="D1", date=D,
                     transformer="T-D1", customers=["C1", "C2"], alarm_dates=[D])


def test_results_go_up_by_proof_and_are_recorded_with_heights(nets):
    main, edge = nets
    edge.admin_address = address_of(edge.admin.public_key)
    edge_day(edge)
    failed(edge.send(edge.member, "district_results", "publish",
                     {"district": "D1", "date": D, "transformer": "T-D1", "customers": [],
                      "alarm_dates": []}, kind="call"), "PERMISSION_DENIED")
    # not yet registered on main: refused there, and the edge may send the day again
    rc = ok(publish(edge))
    (got,) = relay(main, edge, rc)
    assert got.value["ack"]["code"] == "UNKNOWN_EDGE", got.value
    ok(main.call("district_results", "register_edge", chain="edge-1", district="D1"))
    rc2 = ok(publish(edge))
    sent_height = edge.height
    (got,) = relay(main, edge, rc2)
    assert got.value["ack"]["ok"], got.value
    res = _q(main, "district_results", "get_result", {"district": "D1", "date": D})
    assert res["src_chain"] == "edge-1" and res["sequence"] == 2
    assert res["sent_height"] == sent_height and res["lag_ms"] > 0
    r = res["result"]
    assert (r["supply"], r["sales"], r["loss_bp"]) == (1600, 1500, 625)
    assert r["bills"]["count"] == 2 and r["bills"]["energy"] == 1500
    assert r["control"] == {"WARN": [], "PENDING_CUT": [], "CUT": [], "RESTORE_PENDING": []}
    assert _q(main, "district_results", "list_results", {"date": D}) == ["D1"]
    pub = _q(edge, "district_results", "get_published", {"district": "D1", "date": D})
    assert pub["acked"]["ok"] and pub["sequence"] == 2
    failed(publish(edge), "ALREADY_PUBLISHED")
    # the main chain takes results only from sys.anchor, and only from district_results
    failed(main.call("district_results", "accept", src_chain="edge-1",
                     src_contract="district_results", sequence=3,
                     payload={"district": "D1", "date": D}), "NOT_ANCHOR")
    rc = ok(edge.call("rogue", "fake", dst="main", target="district_results", handler="accept",
                      payload={"district": "D1", "date": D + 1}))
    (got,) = relay(main, edge, rc)
    assert got.value["ack"]["code"] == "NOT_RESULTS"
