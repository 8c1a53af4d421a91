"""Every route of the RPC app guarded (chainnode.rpc.errors.guard), and a JSON 404/405.

The guard is put round each route's handler, not run as an aiohttp middleware: with any
middleware, aiohttp adds a layer of its own and looks the chain up in an LRU cache on every
request (about 16,000 instructions of a POST /tx's 300,000). Without middlewares, requests no
route matches would get aiohttp's plain-text 404/405; a last catch-all route answers them as
the middleware did: the same JSON, the same Allow header, timed as 'unmatched'. A request
target that is no path ("OPTIONS *", "CONNECT host:port") reaches no route at all: its
plain 404 is turned into the same JSON just before it is sent.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from chainnode.errors import BAD_REQUEST, NOT_FOUND
from chainnode.rpc.errors import guard, json_error

UNMATCHED = "unmatched"  # the route label of requests no route matches
CATCH_ALL = "/{_no_route:.*}"


def guard_all(app: web.Application, metrics: Any = None) -> None:
    """Add the catch-all route, then guard every route's handler (call after all routes
    are added: a route added later would go unguarded)."""
    app.on_response_prepare.append(_pathless_404(metrics))
    catch_all = app.router.add_route(hdrs.METH_ANY, CATCH_ALL, _no_route).resource
    for route in app.router.routes():
        resource = route.resource
        pattern = (UNMATCHED if resource is None or resource is catch_all
                   else resource.canonical)
        timer = None
        fixed = route.method != hdrs.METH_ANY
        if metrics is not None:
            def timer(request: web.Request, pattern: str = pattern) -> Any:
                return metrics.rpc_child(pattern, request.method)
        # the handler is replaced in place: aiohttp has no public way to wrap a route's
        # handler after the fact (tests/unit/rpc/test_routes.py notices if this stops working)
        route._handler = guard(route.handler, timer, fixed)


async def _no_route(request: web.Request) -> web.Response:
    """What aiohttp's router would have raised, answered as the error middleware did."""
    allowed: set[str] = set()
    catch_all = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is catch_all:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        resp = json_error(BAD_REQUEST, f"method {request.method} not allowed here", 405)
        resp.headers["Allow"] = ",".join(sorted(allowed))
        return resp
    return json_error(NOT_FOUND, f"no route {request.method} {request.path}", 404)


def _pathless_404(metrics: Any):
    """The JSON 404 for a request target no route can match (one that is not a path)."""

    async def answer(request: web.Request, response: web.StreamResponse) -> None:
        if type(response) is not web.HTTPNotFound or request.match_info.route.resource:
            return  # every other answer comes from a guarded route
        doc = json_error(NOT_FOUND, f"no route {request.method} {request.path}", 404)
        response.body = doc.body
        response.headers[hdrs.CONTENT_LENGTH] = str(len(doc.body))  # set with the text
        response.content_type = doc.content_type  # the charset (utf-8) stays as it is
        if metrics is not None:  # no handler ran: nothing to time, but it is counted
            child = metrics.rpc_child(UNMATCHED, request.method)
            if child is not None:
                child.observe(0.0)
    return answer
