"""The relayer-facing RPC (/anchor/...) on a real chain over loopback HTTP: its proofs and
certified headers are exactly what sys.anchor on the other chain accepts."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_sys_anchor import METER, TARIFF
from two_chains import (
    ANCHOR,
    Clock,
    Net,
    create_client,
    linked_pair,
    ok,
    sent_packets,
    timeout,
    update,
)

from chainnode import codec
from chainnode.rpc import anchor as anchor_routes
from chainnode.rpc.errors import error_middleware


def _serve(net: Net, pool: ThreadPoolExecutor, calls: list[tuple[str, dict]]) -> list[dict]:
    async def go() -> list[dict]:
        app = web.Application(middlewares=[error_middleware])
        anchor_routes.add_routes(app, SimpleNamespace(db=net.db, chain=net.chain,
                                                      exec_pool=pool))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            out = []
            for path, params in calls:
                resp = await client.get(path, params=params)
                body = await resp.json()
                out.append(body if isinstance(body, dict) else {"list": body})
                out[-1]["status"] = resp.status
            return out
    return asyncio.run(go())


def test_relaying_a_packet_with_what_the_rpc_serves(tmp_path):
    clock = Clock()
    main = Net(tmp_path, "main", 4, 21_000, clock)
    edge = Net(tmp_path, "edge-1", 1, 22_000, clock)
    pool = ThreadPoolExecutor(2)
    try:
        main.deploy("tariff", TARIFF)
        edge.deploy("meter", METER)
        create_client(main, edge)
        create_client(edge, main)
        rc = ok(main.call("tariff", "push", dst="edge-1", price=7, timeout=0))
        (packet,) = sent_packets(rc)
        h = main.height
        key_hex = codec.encode(["commit", "edge-1", 1]).hex()
        pend, hdr, proof, clients, none = _serve(main, pool, [
            ("/anchor/packets/edge-1", {}), (f"/anchor/header/{h}", {}),
            ("/anchor/proof/state", {"contract": ANCHOR, "key_hex": key_hex,
                                     "height": str(h)}),
            ("/anchor/clients", {}), ("/anchor/clients/nowhere", {})])
        assert pend["packets"][0]["sequence"] == 1
        assert codec.decode(bytes.fromhex(pend["packets"][0]["packet_hex"])) == packet
        assert proof["exists"] and proof["height"] == h
        assert [(c["chain_id"], c["status"]) for c in clients["list"]] == [("edge-1", "active")]
        assert none["status"] == 404
        ok(edge.send(edge.relayer, ANCHOR, "update",
                     {"chain_id": "main",
                      "header": codec.decode(bytes.fromhex(hdr["header_hex"])),
                      "certificate": codec.decode(bytes.fromhex(hdr["certificate_hex"])),
                      "validators": hdr["next_validators"]}))
        rc = ok(edge.send(edge.relayer, ANCHOR, "recv",
                          {"packet": packet, "height": h,
                           "proof": bytes.fromhex(proof["proof_hex"])}))
        assert rc.value["result"] == "delivered"
        (rp,) = _serve(edge, pool, [(f"/anchor/proof/receipt/{rc.tx_hash.hex()}", {})])
        assert rp["index"] == 0 and bytes.fromhex(rp["receipt_hex"]) == rc.encode()
    finally:
        pool.shutdown()
        main.close()
        edge.close()


def test_packets_proven_timed_out_are_listed_only_from_settled_from(tmp_path):
    main, edge = linked_pair(tmp_path, ("main", 1, 31_000), ("edge-1", 1, 32_000),
                             {"tariff": TARIFF}, {"meter": METER})
    pool = ThreadPoolExecutor(2)
    try:
        rc = ok(main.call("tariff", "push", dst="edge-1", price=7, timeout=edge.height + 1))
        (packet,) = sent_packets(rc)
        edge.block()
        edge.block()  # edge passes the timeout without receiving packet 1
        ok(update(main, edge))
        assert ok(timeout(main, edge, packet)).value["result"] == "timed_out"
        plain, listed, later = _serve(main, pool, [
            ("/anchor/packets/edge-1", {}), ("/anchor/packets/edge-1", {"settled_from": "1"}),
            ("/anchor/packets/edge-1", {"settled_from": "2"})])
        assert plain["packets"] == [] and later["packets"] == []  # settled: no ack expected
        (p,) = listed["packets"]  # but edge, still expecting 1, must be handed it
        assert (p["sequence"], p["settled"]) == (1, True)
        assert codec.decode(bytes.fromhex(p["packet_hex"])) == packet
    finally:
        pool.shutdown()
        main.close()
        edge.close()
