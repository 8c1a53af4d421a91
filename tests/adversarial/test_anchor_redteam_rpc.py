"""Red team, RPC: /anchor/packets is unauthenticated; acknowledged packets are deleted, so on a
busy channel a request from sequence 1 used to read every sequence ever sent (a million state
reads for one GET). One request now looks at a bounded number of sequences."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chainnode import codec
from chainnode.rpc import anchor as anchor_routes
from chainnode.rpc.errors import error_middleware
from tests.unit.anchor.two_chains import ANCHOR, Clock, Net


class CountingDB:
    """The chain's db, except that 10**9 packets were sent to edge-1 (all acknowledged)."""

    def __init__(self, db) -> None:
        self.db = db
        self.reads = 0

    def state_get(self, contract: str, key: bytes):
        self.reads += 1
        if contract == ANCHOR and key == codec.encode(["send_next", "edge-1"]):
            return codec.encode(10**9)
        return self.db.state_get(contract, key)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_pending_packets_scan_is_bounded(tmp_path):
    net = Net(tmp_path, "main", 1, 71_000, Clock())
    net.block()
    db = CountingDB(net.db)
    pool = ThreadPoolExecutor(1)

    async def go() -> dict:
        app = web.Application(middlewares=[error_middleware])
        anchor_routes.add_routes(app, SimpleNamespace(db=db, chain=net.chain, exec_pool=pool))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            resp = await asyncio.wait_for(client.get("/anchor/packets/edge-1"), 60)
            return await resp.json()

    try:
        body = asyncio.run(go())
    finally:
        pool.shutdown()
        net.close()
    assert body["packets"] == [] and body["next_sequence"] == 10**9
    assert body["next_from"] == 1 + anchor_routes.MAX_SCAN
    assert db.reads <= anchor_routes.MAX_SCAN + 10


def test_the_relayer_pages_past_settled_packets():
    """2,000+ acknowledged packets: the relayer follows next_from to the pending ones."""
    from chainnode.relay import chain as relay_chain

    calls: list[int] = []

    def get(path: str) -> dict:
        start = int(path.split("from=")[1].split("&")[0])
        calls.append(start)
        end = min(start + anchor_routes.MAX_SCAN, 5_001)
        packets = [] if end <= 4_500 else [{"sequence": 4_500}]
        return {"next_sequence": 5_001, "next_from": end, "height": 9, "packets": packets}

    rc = relay_chain.RelayChain.__new__(relay_chain.RelayChain)
    rc.get = get
    assert rc._pending_page("edge-1")["packets"] == [{"sequence": 4_500}]
    assert calls == [1, 2_001, 4_001]
