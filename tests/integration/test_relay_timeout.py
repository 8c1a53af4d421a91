"""A packet that times out while no relayer runs: once one starts, it proves the timeout on the
source by the destination's non-receipt (sys.anchor.timeout), the sending contract is called
back once, the destination still takes the packet as a timeout (delivering nothing) and the
ordered channel moves on to the next packet. Real node processes (main and edge, one validator
each) and a real relayer process."""

from __future__ import annotations

import io
import json
import urllib.request

import pytest
from cluster import FAST_PARAMS, free_base_port, wait_until

from chainnode import testnet, testnet_sides
from chainnode.client import Client
from chainnode.crypto.keyfile import load_private_key
from chainnode.relay.courier import COURIER

pytestmark = pytest.mark.slow
WAIT = 45.0


def test_timed_out_packet_is_proven_on_the_source_and_never_delivered(tmp_path):
    testnet_sides.init(tmp_path, 1, 1, 1, free_base_port(200), params=FAST_PARAMS)
    doc = testnet_sides.load(tmp_path)
    admin = {c["name"]: Client(testnet.manifest(tmp_path / c["dir"])["nodes"][0]["rpc"],
                               load_private_key(tmp_path / c["dir"] / "admin.key"))
             for c in doc["chains"]}
    main, edge = admin["main"], admin["edge-1"]
    relayer = doc["relayers"][0]
    out = io.StringIO()
    try:
        for c in doc["chains"]:  # the chains and their clients, but no relayer yet
            testnet.up(tmp_path / c["dir"], 60.0, out)
        testnet_sides.setup_anchors(tmp_path, out)
        for c in (main, edge):
            assert c.deploy("courier", COURIER)["receipt"]["status"] == "ok"

        def send(n: int, timeout: int) -> None:
            rc = main.call("courier", "send", {"dst": edge.chain_id, "n": n,
                                               "timeout": timeout})["receipt"]
            assert rc["status"] == "ok", rc

        timeout_height = edge.height() + 2
        send(1, timeout_height)  # packet 1: must land on edge before height timeout_height
        send(1, 0)  # packet 2: no timeout
        while edge.height() < timeout_height:  # edge moves on; nobody relays packet 1
            assert edge.call("courier", "send", {"dst": main.chain_id, "n": 0}
                             )["receipt"]["status"] == "ok"

        testnet_sides.start_relayer(tmp_path, relayer, out,
                                    ("--interval", "0.2", "--backoff-max", "2"))

        def stats(on: Client, peer: Client) -> dict:
            return on.query("courier", "stats", {"peer": peer.chain_id})

        def settled():
            back, got = stats(main, edge), stats(edge, main)
            return back["timeouts"] == 1 and back["acks"] == 1 and (back, got)
        back, got = wait_until(settled, WAIT, lambda: f"timeout and ack of packet 2: "
                               f"{stats(main, edge)} / {stats(edge, main)}")
        # packet 2 arrived; packet 1 never ran on edge (k=1 missing: one gap, no duplicates)
        assert (got["count"], got["last"], got["dups"]) == (1, 2, 0), got
        assert (back["timeouts"], back["acks"], back["ackdups"]) == (1, 1, 0), back
        # edge took packet 1 as a timeout (its ordered channel moved past it) ...
        ack1 = edge.query("sys.anchor", "ack", {"chain_id": main.chain_id, "sequence": 1})
        assert ack1["ack"]["timeout"] is True and ack1["ack"]["ok"] is False
        assert edge.query("sys.anchor", "next_recv", {"chain_id": main.chain_id}) == 3
        # ... after main settled it by edge's non-receipt (not by that acknowledgement)
        port = relayer["metrics_port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            counters = json.loads(r.read())["counters"]
        assert counters.get("timeout_effect") == 1, counters
        assert counters.get("timeout_failed", 0) == 0, counters
    finally:
        testnet_sides.down(tmp_path, out=io.StringIO())
