"""Red team, governance: the read-only governance RPC under hostile ids and filters, over
loopback HTTP on a real chain. `GET /governance/proposals/²` passed the `isdigit()` check
(superscript two is a Unicode digit), then `int()` raised: a 500 internal error instead of a
400. Fixed: ASCII digits only."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import GOVS, Bench, ok  # noqa: E402

from chainnode.rpc import governance as gov_routes  # noqa: E402
from chainnode.rpc.errors import error_middleware  # noqa: E402


def _get_all(b: Bench, paths: list[str]) -> list[tuple[int, dict]]:
    async def go() -> list[tuple[int, dict]]:
        with ThreadPoolExecutor(1) as pool:
            app = web.Application(middlewares=[error_middleware])
            gov_routes.add_routes(app, SimpleNamespace(db=b.db, chain=b.chain, exec_pool=pool))
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                out = []
                for path in paths:
                    resp = await client.get(path)
                    out.append((resp.status, await resp.json()))
                return out
    return asyncio.run(go())


def test_hostile_proposal_ids_and_filters_are_client_errors(tmp_path):
    b = Bench(tmp_path / "db")
    try:
        ok(b.propose(GOVS[0], "set-param", {"name": "max_block_txs", "value": 10}))
        paths = ["/governance/proposals/²", "/governance/proposals/\u0663",
                 "/governance/proposals/-1", "/governance/proposals/1e3",
                 "/governance/proposals/" + "9" * 19, "/governance/proposals?limit=0",
                 "/governance/proposals?limit=x", "/governance/proposals?status=<b>",
                 "/governance/proposals/2"]
        res = _get_all(b, paths)
        assert [s for s, _ in res] == [400] * 8 + [404], res
        assert all(doc["error"]["code"] in ("BAD_REQUEST", "NOT_FOUND") for _, doc in res)
        (s, doc), = _get_all(b, ["/governance/proposals/1"])
        assert s == 200 and doc["proposal"]["payload"] == {"name": "max_block_txs", "value": 10}
    finally:
        b.close()
