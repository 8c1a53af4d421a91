"""How the RPC server answers and logs what goes wrong.

A client's mistake (a malformed body, a wrong method, malformed HTTP) or a client going away is
ordinary: it gets a JSON 4xx and at most a DEBUG line without a traceback. Only the node's own
faults (a 500) are logged as errors with their traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from chainnode.errors import (
    BAD_REQUEST,
    HTTP_STATUS,
    NOT_FOUND,
    TX_TOO_LARGE,
    UNAVAILABLE,
    ChainError,
)
from chainnode.rpc.body import RULES, BodyError, check_body
from chainnode.store.failure import StorageFailure

log = logging.getLogger("chainnode.rpc")

CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def json_error(code: str, message: str, status: int | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}},
                             status=status or HTTP_STATUS.get(code, 400))


_UNBOUND = object()


def guard(handler: Callable, timer: Callable[[web.Request], Any] | None = None,
          fixed: bool = False) -> Callable:
    """`handler` with bodies checked at the door, errors answered as JSON and, with `timer`,
    each request's time observed on the histogram child timer(request) returns (None: not
    timed; with `fixed`, the first request's child is kept for all). Wrapped round each
    route's handler (chainnode.rpc.routes) instead of being a middleware: aiohttp runs
    middlewares as layers of their own, plus one of its own, a few coroutines per request."""
    child = _UNBOUND

    async def guarded(request: web.Request):
        nonlocal child
        t0 = perf_counter()
        try:
            rule = RULES.get(request.path) if request.method == "POST" else None
            if rule is not None and rule.at_door:
                body = await request.read()
                request["json"] = check_body(request.path, request.content_type, body,
                                             request.charset)
            return await handler(request)
        except Exception as exc:
            return _error_answer(request, exc)
        finally:
            timed = child
            if timed is _UNBOUND:  # made once answered: a scrape does not show its own series
                timed = timer(request) if timer is not None else None
                if fixed:
                    child = timed
            if timed is not None:
                timed.observe(perf_counter() - t0)
    return guarded


def make_middleware(timer: Callable[[web.Request], Any] | None = None):
    """`guard` as an aiohttp middleware, for apps whose routes are not guarded one by one."""

    @web.middleware
    async def rpc_middleware(request: web.Request, handler):
        return await guard(handler, timer)(request)
    return rpc_middleware


def _error_answer(request: web.Request, exc: Exception) -> web.StreamResponse:
    """What a request that raised `exc` is answered (called inside the except block)."""
    if isinstance(exc, ChainError):
        log.debug("%s %s refused: %s", request.method, request.path, exc)
        return json_error(exc.code, exc.message,
                          exc.status if isinstance(exc, BodyError) else None)
    if isinstance(exc, StorageFailure):
        return json_error(UNAVAILABLE, f"node stopping: storage failed ({exc.detail})", 503)
    if isinstance(exc, web.HTTPException):
        return _http_error(request, exc)
    if isinstance(exc, CLIENT_GONE):
        log.debug("client went away during %s %s: %r", request.method, request.path, exc)
        return web.Response(status=499)  # nobody reads it
    log.exception("internal error serving %s %s", request.method, request.path)
    return json_error("INTERNAL", "internal error; see the node log", 500)


error_middleware = make_middleware()  # without request timing


def _http_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    """aiohttp's own 4xx (no route, wrong method, body too large, bad upgrade) as JSON."""
    if exc.status == 404:
        return json_error(NOT_FOUND, f"no route {request.method} {request.path}", 404)
    if exc.status == 405:
        resp = json_error(BAD_REQUEST, f"method {request.method} not allowed here", 405)
        allow = exc.headers.get("Allow")
        if allow is not None:
            resp.headers["Allow"] = allow
        return resp
    if exc.status == 413:
        return json_error(TX_TOO_LARGE, f"request body too large: {exc.text}", 413)
    if 400 <= exc.status < 500:
        log.debug("%s %s refused: %d %s", request.method, request.path, exc.status, exc.text)
        return json_error(BAD_REQUEST, exc.text or exc.reason, exc.status)
    raise exc


class ServerLog(logging.LoggerAdapter):
    """aiohttp's server logger, except that a request the client got wrong at the HTTP level
    (too long a line, a bad header, a bad method: aiohttp answers 4xx itself) and a client
    that went away are DEBUG lines without a traceback instead of ERROR with one."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def exception(self, msg, *args, exc_info=True, **kwargs) -> None:
        if _ordinary(exc_info):
            self.logger.debug(f"{msg}: %r", *args, exc_info, **kwargs)
        else:
            self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


def _ordinary(exc: object) -> bool:
    if isinstance(exc, CLIENT_GONE):
        return True
    return isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500
