"""GET /anchor/header/{h} serves the validator set a set-changing header announces from the
chain's epoch history, so a relayer can still relay that change after a later one replaced the
set in state (4 -> 5 -> 4 by governance on a real chain, served over loopback HTTP)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from gov_util import Bench
from test_gov_switch import NEW, decide

from chainnode.core.genesis import validators_hash
from chainnode.rpc import anchor as anchor_routes
from chainnode.rpc.errors import error_middleware


def _headers(b: Bench, heights: list[int]) -> list[dict]:
    pool = ThreadPoolExecutor(1)

    async def go() -> list[dict]:
        app = web.Application(middlewares=[error_middleware])
        anchor_routes.add_routes(app, SimpleNamespace(db=b.db, chain=b.chain, exec_pool=pool))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return [await (await client.get(f"/anchor/header/{h}")).json() for h in heights]
    try:
        return asyncio.run(go())
    finally:
        pool.shutdown()


def test_each_set_change_is_served_after_later_changes(tmp_path) -> None:
    b = Bench(tmp_path / "db")
    try:
        add = {"name": "edge5", "public_key": NEW.public_key.raw.hex(), "p2p": "127.0.0.1:1"}
        h1 = decide(b, "add-validator", add)
        b.empty(1)
        h2 = decide(b, "remove-validator", {"name": "v0"})
        b.empty(1)
        first, plain, second = _headers(b, [h1, h1 + 1, h2])
        five, four = b.chain.validators_at(h1 + 1), b.chain.validators_at(h2 + 1)
        assert len(five) == 5 and len(four) == 4 and b.chain.validators == four
        assert first["next_validators"] == [[v.name, v.public_key.hex()] for v in five]
        assert first["header"]["next_validators_hash"] == validators_hash(five).hex()
        assert plain["next_validators"] is None  # no change after h1 + 1
        assert second["next_validators"] == [[v.name, v.public_key.hex()] for v in four]
    finally:
        b.close()
