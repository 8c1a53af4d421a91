"""Routes guarded one by one (no aiohttp middleware) answer as the error middleware did."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from chainnode.errors import ChainError
from chainnode.metrics import NodeMetrics
from chainnode.rpc import routes
from chainnode.rpc.errors import error_middleware


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("node fault")


async def refuse(request: web.Request) -> web.Response:
    raise ChainError("NOT_FOUND", "no such thing")


async def fine(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app(guarded: bool, metrics: NodeMetrics | None = None) -> web.Application:
    app = web.Application(middlewares=[] if guarded else [error_middleware])
    app.router.add_get("/boom", boom)
    app.router.add_post("/refuse", refuse)
    app.router.add_get("/fine/{x}", fine)
    if guarded:
        routes.guard_all(app, metrics)
    return app


async def answers(app: web.Application) -> list[tuple[int, str | None, bytes]]:
    """Status, Allow and body of each probe, over a real socket."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    probes = [b"GET /boom", b"POST /refuse", b"GET /fine/1", b"HEAD /fine/1", b"GET /refuse",
              b"DELETE /fine/1", b"GET /nowhere", b"POST /", b"OPTIONS *",
              b"CONNECT host:443"]
    out = []
    try:
        for probe in probes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(probe + b" HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            raw = await reader.read()
            writer.close()
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            headers.pop("Date")
            out.append((lines[0], headers, body))
    finally:
        await runner.cleanup()
    return out


async def test_same_answers_as_the_error_middleware():
    want = await answers(make_app(guarded=False))
    got = await answers(make_app(guarded=True))
    assert got == want
    assert got[0][0].endswith("500 Internal Server Error")
    assert json.loads(got[0][2])["error"]["code"] == "INTERNAL"
    assert got[4][1]["Allow"] == "POST"
    assert json.loads(got[8][2])["error"]["code"] == "NOT_FOUND"  # not aiohttp's text 404


async def test_no_middleware_and_every_route_guarded():
    app = make_app(guarded=True)
    assert not app.middlewares
    assert all(r.handler.__name__ == "guarded" for r in app.router.routes())


async def test_requests_timed_by_route_pattern_including_unmatched():
    metrics = NodeMetrics()
    await answers(make_app(guarded=True, metrics=metrics))
    lines = metrics.render().decode().splitlines()
    for route, method, count in (("/fine/{x}", "GET", 1), ("/fine/{x}", "HEAD", 1),
                                 ("/boom", "GET", 1), ("unmatched", "GET", 2),
                                 ("unmatched", "OPTIONS", 1), ("unmatched", "CONNECT", 1),
                                 ("unmatched", "DELETE", 1), ("unmatched", "POST", 1)):
        assert (f'chainnode_rpc_request_seconds_count{{method="{method}",route="{route}"}} '
                f'{count:.1f}') in lines


@pytest.mark.parametrize("guarded", [False, True])
async def test_through_aiohttp_client(guarded):
    """The ordinary path: a client gets JSON answers either way."""
    runner = web.AppRunner(make_app(guarded), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as s:
            async with s.post("/refuse") as resp:
                assert resp.status == 404
                assert await resp.json() == {"error": {"code": "NOT_FOUND",
                                                       "message": "no such thing"}}
            async with s.get("/fine/2") as resp:
                assert await resp.json() == {"ok": True}
    finally:
        await runner.cleanup()


async def test_rpc_server_guards_every_route_when_started():
    from chainnode.rpc.server import RpcServer
    from tests.unit.rpc.test_tx_answers import StubNode

    srv = RpcServer(StubNode())
    await srv.start("127.0.0.1", 0)
    try:
        assert not srv.app.middlewares
        handlers = [r.handler for r in srv.app.router.routes()]
        assert len(handlers) > 20 and all(h.__name__ == "guarded" for h in handlers)
    finally:
        await srv.stop()
