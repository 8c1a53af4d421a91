"""JSON/msgpack RPC over aiohttp (DESIGN §10).

Every error is a JSON body {"error": {"code", "message"}} with a 4xx/5xx status from
chainnode.errors.HTTP_STATUS, so scripts can branch on the code and people can read the message.
POST bodies are checked at the door (chainnode.rpc.body) so no malformed input reaches a handler
as something that could fail with a 5xx. A client's mistake or a client going away is ordinary:
it is logged at DEBUG, without a traceback; only the node's own faults are logged as errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from chainnode import codec
from chainnode.clock import wall_ms
from chainnode.core.query import QueryAuthError, SignedQuery, parse_auth
from chainnode.core.tx import METHOD_RE, NAME_RE, Transaction, _jsonable
from chainnode.crypto.hashing import sm3
from chainnode.errors import BAD_REQUEST, NOT_FOUND, TIMEOUT, TX_TOO_LARGE, UNAVAILABLE, ChainError
from chainnode.exec.system import CallFailed
from chainnode.hub import CLOSED, TIMED_OUT
from chainnode.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from chainnode.rpc import anchor as anchor_routes
from chainnode.rpc import answers, console_routes, routes, status_view
from chainnode.rpc import governance as governance_routes
from chainnode.rpc.body import check_body
from chainnode.rpc.errors import CLIENT_GONE, ServerLog, json_error
from chainnode.rpc.openapi import OPENAPI
from chainnode.rpc.querygate import QueryGate, QueryLimits, SnapshotState
from chainnode.store.db import state_key_hash

log = logging.getLogger("chainnode.rpc")

MAX_BATCH_TXS = 1000  # POST /txs: transactions per request
MAX_BATCH_BYTES = 16 * 1024 * 1024
SHUTDOWN_GRACE_S = 2.0  # how long stop waits for a handler still running (waiters are answered)
QUERY_BUSY = "QUERY_BUSY"  # 429: too many queries running or waiting
QUERY_TIMEOUT = "QUERY_TIMEOUT"  # 504: a query ran past query_timeout_ms
QUERY_STALE = "QUERY_STALE"  # 401: a signed query outside the freshness window
QUERY_REPLAY = "QUERY_REPLAY"  # 409: a signed query used twice
QUERY_BAD_SIGNATURE = "QUERY_BAD_SIGNATURE"  # 401
_QUERY_STATUS = {QUERY_STALE: 401, QUERY_REPLAY: 409, QUERY_BAD_SIGNATURE: 401,
                 TX_TOO_LARGE: 413}


_err = json_error
# POST /txs items as dumps writes them
_BATCH_PENDING = '{"hash": "%s", "status": "pending"}'
_BATCH_INTERNAL = '{"error": {"code": "INTERNAL", "message": "internal error"}}'


def _pending(tx_hash: bytes) -> web.Response:
    """202 {"hash", "status": "pending"}: the bytes json_response would send, built directly
    (one per accepted tx, so json.dumps and a str round trip are worth sparing)."""
    return web.Response(body=b'{"hash": "%s", "status": "pending"}' % tx_hash.hex().encode(),
                        status=202, content_type="application/json")


def _hex_arg(text: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise ChainError(BAD_REQUEST, f"{what} must be hex") from exc
    return raw


def _timeout_arg(text: str) -> float:
    """?timeout= in seconds, checked BEFORE the tx is admitted (0 < t, capped at 300)."""
    try:
        t = float(text)
    except ValueError as exc:
        raise ChainError(BAD_REQUEST, "timeout must be a number of seconds") from exc
    if not 0 < t < float("inf"):
        raise ChainError(BAD_REQUEST, "timeout must be a positive number of seconds")
    return min(t, 300.0)


# POST /tx and /txs: their (wait, timeout) per raw query string, which is all they depend on
# (clients send the same few); errors are not kept, they are raised anew each time
_WAIT_ARGS: dict[str, tuple[bool, float]] = {}
MAX_WAIT_ARGS = 64


def _wait_args(request: web.Request) -> tuple[bool, float]:
    """?wait=commit and its ?timeout= (checked before anything is admitted)."""
    raw = request.rel_url.raw_query_string
    got = _WAIT_ARGS.get(raw)
    if got is None:
        query = request.query
        wait = query.get("wait") == "commit"
        got = (wait, _timeout_arg(query.get("timeout", "30")) if wait else 0.0)
        if len(_WAIT_ARGS) < MAX_WAIT_ARGS:
            _WAIT_ARGS[raw] = got
    return got


def _parse_query(body: bytes, content_type: str,
                 charset: str | None) -> tuple[str, str, dict, SignedQuery | None]:
    """Check a query body: JSON at the door's rules (type, UTF-8, depth, field types), names,
    codec-safe args, no unsigned sender, a well-formed auth."""
    doc = check_body("/query", content_type, body, charset)
    contract, method = doc["contract"], doc["method"]
    args = doc.get("args", {})
    if "sender" in doc:
        raise ChainError(BAD_REQUEST, 'an unsigned "sender" is not accepted: sign the query '
                                      '("auth", see docs/contracts.md)')
    unknown = sorted(set(doc) - {"contract", "method", "args", "auth"})
    if unknown:
        raise ChainError(BAD_REQUEST, f"unknown query fields {unknown[:5]}")
    if not (isinstance(contract, str) and NAME_RE.fullmatch(contract)):
        raise ChainError(BAD_REQUEST, "contract must be a contract name")
    if not (isinstance(method, str) and METHOD_RE.fullmatch(method)):
        raise ChainError(BAD_REQUEST, "method must be a method name")
    try:
        codec.encode(args)
    except (codec.CodecError, RecursionError) as exc:
        raise ChainError(BAD_REQUEST, "args must be codec values (no floats, valid Unicode, "
                                      "depth <= 32)") from exc
    if doc.get("auth") is None:
        return contract, method, args, None
    try:
        return contract, method, args, parse_auth(doc["auth"], contract, method, args)
    except QueryAuthError as exc:
        raise ChainError(BAD_REQUEST, str(exc)) from exc


class RpcServer:
    def __init__(self, node) -> None:
        self.node = node
        max_body = max(node.genesis.param("max_tx_bytes") * 2 + 1024, MAX_BATCH_BYTES)
        # no middlewares: every route is guarded (errors, door checks, latency) on its own
        self.app = web.Application(client_max_size=max_body)
        r = self.app.router
        r.add_get("/status", self.status)
        r.add_post("/tx", self.post_tx)
        r.add_post("/txs", self.post_txs)
        r.add_get("/tx/{hash}", self.get_tx)
        r.add_get("/blocks/{height}", self.get_block)
        r.add_post("/query", self.query)
        r.add_get("/state/{contract}/{key}", self.get_state)
        r.add_get("/events", self.events)
        r.add_get("/metrics", self.metrics)
        r.add_get("/openapi.json", self.openapi)
        governance_routes.add_routes(self.app, node)
        anchor_routes.add_routes(self.app, node)
        console_routes.add_routes(self.app, node)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._queries: QueryGate | None = None

    async def start(self, host: str, port: int) -> None:
        # every route there is by now guarded, plus the catch-all for JSON 404/405
        routes.guard_all(self.app, getattr(self.node, "metrics", None))
        # waiters are answered before stop (CommitHub.close), so handlers end at once; the
        # grace only bounds one stuck on a slow client
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S,
                                    logger=ServerLog())
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
        if self._queries is not None:  # running queries end by their deadline
            await asyncio.get_running_loop().run_in_executor(None, self._queries.close)

    # -- handlers
    async def status(self, request: web.Request) -> web.Response:
        n = self.node
        head = n.chain.head
        return web.json_response({
            "chain_id": n.chain_id, "node": n.cfg.name, "height": head.height,
            "head_hash": head.block_hash.hex(), "state_root": head.state_root.hex(),
            "view": n.view, "validator_index": n.index,
            "validators": [v.to_json() for v in n.chain.validators],
            "peers": n.peer_list() if hasattr(n, "peer_list") else [],
            "syncing": bool(getattr(n, "syncing", False)), "mempool": len(n.mempool),
            "genesis_hash": n.genesis.hash().hex(),
            "validator_set": status_view.validator_set(n.db, head.height),
        })

    async def post_tx(self, request: web.Request) -> web.Response:
        body = await request.read()
        doc = request.get("json")  # checked at the door: an object with a string "tx"
        if doc is not None:
            try:
                raw = bytes.fromhex(doc["tx"])
            except ValueError as exc:
                raise ChainError("TX_MALFORMED", 'JSON body must be {"tx": "<hex of the '
                                                 'msgpack-encoded transaction>"}') from exc
        else:
            raw = body
        wait, timeout = _wait_args(request)
        tx, fut = await self._admit(raw, wait)
        if fut is None:
            return _pending(tx.hash)
        hub = self.node.hub
        hub.expire_after(tx.hash, fut, timeout)  # one timer per slot of deadlines, not per request
        try:
            res = await fut
        except asyncio.CancelledError:
            hub.cancel(tx.hash, fut)
            raise
        if res is TIMED_OUT:  # the hub has dropped the waiter
            return _err(TIMEOUT, f"not committed within {timeout} s; poll GET /tx/{{hash}}")
        height, rc = res
        return answers.committed(tx.hash, height, rc)

    async def _admit(self, raw: bytes, wait: bool,
                     source: object = None) -> tuple[Transaction, asyncio.Future | None]:
        """Decode and admit one tx; with `wait`, the future resolves when it commits.

        The waiter is registered before admission so a commit racing the reply is not missed.
        A stopping node admits nothing: its pool is about to be dropped.
        """
        if getattr(self.node, "stopping", False):
            raise ChainError(UNAVAILABLE, "node stopping")
        t0 = time.perf_counter()
        tx = Transaction.decode(raw, self.node.genesis.param("max_tx_bytes"))
        metrics = getattr(self.node, "metrics", None)
        if metrics is not None:
            metrics.stage_child("decode").observe(time.perf_counter() - t0)
        fut = self.node.hub.wait_for(tx.hash) if wait else None
        try:
            await self.node.submit(tx, source)
        except Exception:
            if fut is not None:
                self.node.hub.cancel(tx.hash, fut)
            raise
        return tx, fut

    async def post_txs(self, request: web.Request) -> web.Response:
        """Many signed transactions in one request (an edge site uploading a batch).

        Body: msgpack list of encoded transactions. Each item is admitted on its own; the answer
        lists, in order, either {"hash", "status", ...} or {"error": {"code", "message"}}.
        """
        body = await request.read()
        if len(body) > MAX_BATCH_BYTES:
            raise ChainError(TX_TOO_LARGE, f"batch larger than {MAX_BATCH_BYTES} bytes")
        try:
            items = codec.decode(body, max_size=MAX_BATCH_BYTES, max_depth=2)
        except codec.CodecError as exc:
            raise ChainError("TX_MALFORMED", f"batch body is not canonical msgpack: "
                                             f"{exc.message}") from exc
        if not isinstance(items, list) or not all(isinstance(x, bytes) for x in items):
            raise ChainError("TX_MALFORMED", "batch body must be a list of encoded transactions")
        if not 0 < len(items) <= MAX_BATCH_TXS:
            raise ChainError(BAD_REQUEST, f"a batch holds 1 to {MAX_BATCH_TXS} transactions")
        wait, timeout = _wait_args(request)
        hub = self.node.hub
        batch = object()  # one batch is one ordered source: its txs enter the pool in order
        admitted = await asyncio.gather(*(self._admit(raw, wait, batch) for raw in items),
                                        return_exceptions=True)
        waiting = [res[1] for res in admitted if isinstance(res, tuple) and res[1] is not None]
        if waiting:  # one wait for the whole batch, not one timer per transaction
            await asyncio.wait(waiting, timeout=timeout)
        # each item's JSON text as `dumps` writes it, joined into the answer's list
        results: list[str] = []
        accepted = 0
        for res in admitted:
            if isinstance(res, ChainError):
                results.append(answers.dumps({"error": res.to_json()}))
                continue
            if isinstance(res, BaseException):
                log.error("batch item failed: %r", res)
                results.append(_BATCH_INTERNAL)
                continue
            accepted += 1
            tx, fut = res
            if fut is None:
                results.append(_BATCH_PENDING % tx.hash.hex())
            elif fut.done():
                height, rc = fut.result()  # the hub closing raises UNAVAILABLE here
                results.append(answers.committed_text(tx.hash, height, rc))
            else:
                hub.cancel(tx.hash, fut)
                results.append(answers.dumps({
                    "hash": tx.hash.hex(), "status": "pending",
                    "error": {"code": TIMEOUT, "message": f"not committed within {timeout} s"}}))
        return answers.json_bytes(b'{"accepted": %d, "rejected": %d, "results": [%s]}' % (
            accepted, len(results) - accepted, ", ".join(results).encode()))

    async def get_tx(self, request: web.Request) -> web.Response:
        h = _hex_arg(request.match_info["hash"], "hash")
        db = self.node.db
        loc = db.tx_location(h)
        if loc is None:
            if h in self.node.mempool:
                return web.json_response({"hash": h.hex(), "status": "pending"})
            raise ChainError(NOT_FOUND, f"no transaction {h.hex()}")
        height, idx = loc
        block = db.block(height)
        tx = block.txs[idx]
        rc = db.receipt(h)
        return web.json_response({"hash": h.hex(), "status": "committed", "height": height,
                                  "index": idx, "tx": tx.to_json(), "receipt": rc.to_json()})

    async def get_block(self, request: web.Request) -> web.Response:
        try:
            height = int(request.match_info["height"])
        except ValueError as exc:
            raise ChainError(BAD_REQUEST, "height must be an integer") from exc
        db = self.node.db
        block = db.block(height) if 0 <= height < 2**64 else None
        if block is None:
            raise ChainError(NOT_FOUND, f"no block at height {height}")
        cert = db.certificate(height)
        return web.json_response({
            "height": height, "hash": block.hash.hex(), "header": block.header.to_json(),
            "header_wire": codec.encode(block.header.to_wire()).hex(),
            "tx_hashes": [tx.hash.hex() for tx in block.txs],
            "certificate": {"view": cert.view, "block_hash": cert.block_hash.hex(),
                            "signatures": [[i, t, s.hex()] for i, t, s in cert.signatures],
                            "wire": cert.encode().hex()},
        })

    # -- POST /query: read-only calls, isolated from block execution (chainnode.rpc.querygate)
    @property
    def queries(self) -> QueryGate:
        if self._queries is None:
            self._queries = QueryGate(QueryLimits.from_config(getattr(self.node, "cfg", None)))
        return self._queries

    async def query(self, request: web.Request) -> web.Response:
        gate = self.queries
        if not gate.try_enter():
            return _err(QUERY_BUSY, f"{gate.limits.max_inflight} queries already running or "
                        "waiting on this node; retry later", 429)
        submitted = False
        try:
            body = await self._query_body(request, gate.limits)
            # parsing and codec checks cost up to ~50 ms for a large body: off the event loop
            contract, method, args, sq = await asyncio.wrap_future(
                gate.pool.submit(_parse_query, body, request.content_type, request.charset))
            sender = await self._query_sender(sq)
            fut = gate.submit(self._run_query, contract, method, args, sender, gate.deadline())
            submitted = True
        except ChainError as exc:  # a BodyError carries its own status (415 for a type)
            return _err(exc.code, exc.message,
                        _QUERY_STATUS.get(exc.code) or getattr(exc, "status", None))
        finally:
            if not submitted:
                gate.leave()
        grace = gate.limits.timeout_ms / 1000 + 1.0
        try:
            height, res = await asyncio.wait_for(asyncio.wrap_future(fut), grace)
        except TimeoutError:
            return _err(QUERY_TIMEOUT, f"query exceeded {gate.limits.timeout_ms} ms", 504)
        except CallFailed as exc:
            raise ChainError(exc.code, exc.message) from exc
        if hasattr(res, "ok"):
            if not res.ok:
                status = 504 if res.error_code == QUERY_TIMEOUT else 400
                return _err(res.error_code, res.error_message, status)
            return web.json_response({"height": height, "value": _jsonable(res.value),
                                      "gas_used": res.gas_used})
        return web.json_response({"height": height, "value": _jsonable(res.value)})

    async def _query_body(self, request: web.Request, limits: QueryLimits) -> bytes:
        """The whole body, at most max_body_bytes, within the query's own time limit (a client
        that trickles its body holds an in-flight slot no longer than a running query)."""
        too_large = ChainError(TX_TOO_LARGE, f"query body larger than {limits.max_body_bytes} "
                                             "bytes")
        if (request.content_length or 0) > limits.max_body_bytes:
            raise too_large

        async def read_all() -> bytes:
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = await request.content.read(64 * 1024)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise too_large
                chunks.append(chunk)

        try:
            return await asyncio.wait_for(read_all(), max(5.0, limits.timeout_ms / 1000))
        except TimeoutError:
            raise ChainError(BAD_REQUEST, "query body not received in time") from None

    async def _query_sender(self, sq: SignedQuery | None) -> str:
        """"" for an anonymous query; the signer's address for a fresh, unused, valid one."""
        if sq is None:
            return ""
        gate = self.queries
        if not gate.replay.fresh(sq.time_ms, wall_ms()):
            raise ChainError(QUERY_STALE, f"signed query time is more than "
                                          f"{gate.limits.auth_window_ms} ms from the node's clock")
        n = self.node
        pool = getattr(n, "verify_pool", None)
        ok = await asyncio.get_running_loop().run_in_executor(pool, sq.verify, n.chain_id)
        if not ok:
            raise ChainError(QUERY_BAD_SIGNATURE, "query signature does not verify")
        if not gate.replay.first_use(sq.signature, sq.time_ms, wall_ms()):
            raise ChainError(QUERY_REPLAY, "this signed query was already used")
        return sq.sender

    def _run_query(self, contract: str, method: str, args: dict, sender: str,
                   deadline: float) -> tuple[int, Any]:
        """On a query worker: one snapshot, read-only execution, a gas cap and a deadline."""
        n = self.node
        snap = SnapshotState(n.db)
        try:
            height = snap.head_height()
            res = n.chain.executor.query(snap, contract, method, args, height,
                                         n.chain._last_ts, sender,
                                         self.queries.limits.gas_limit, deadline)
            return height, res
        finally:
            snap.close()

    async def get_state(self, request: web.Request) -> web.Response:
        contract = request.match_info["contract"]
        key_text = request.match_info["key"]
        if "key_hex" in request.query:
            key = _hex_arg(request.query["key_hex"], "key_hex")
        else:
            key = codec.encode(key_text)
        db = self.node.db
        prove = request.query.get("prove") in ("1", "true", "yes")
        for _ in range(5):
            head = self.node.chain.head
            kh = state_key_hash(contract, key)
            vh = db.smt.get(head.state_root, kh)
            value = db.state_get(contract, key)
            if (vh is None and value is None) or (value is not None and vh == sm3(value)):
                break
            await asyncio.sleep(0.01)  # a commit landed between the reads; read again
        else:
            raise ChainError("UNAVAILABLE", "state changing too fast to read consistently")
        out: dict[str, Any] = {"contract": contract, "key_hex": key.hex(),
                               "exists": value is not None, "height": head.height}
        if value is not None:
            out["value_hex"] = value.hex()
            try:
                out["value"] = _jsonable(codec.decode(value))
            except codec.CodecError:
                out["value"] = None
        if prove:
            proof = db.smt.prove(head.state_root, kh)
            out["proof"] = codec.encode(proof.to_wire()).hex()
            if head.height > 0:
                block = db.block(head.height)
                out["header_wire"] = codec.encode(block.header.to_wire()).hex()
                out["certificate"] = db.certificate(head.height).encode().hex()
        return web.json_response(out)

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        want_contract = request.query.get("contract")
        want_name = request.query.get("name")
        hub = self.node.hub
        q = hub.subscribe()
        reader = asyncio.create_task(self._drain(ws))
        try:
            while not ws.closed:
                getter = asyncio.create_task(q.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                item = getter.result()
                if item is CLOSED:
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"node stopping")
                    break
                await self._send_events(ws, item, want_contract, want_name)
        except CLIENT_GONE as exc:  # the subscriber went away mid-send: ordinary
            log.debug("events subscriber went away: %r", exc)
        finally:
            hub.unsubscribe(q)
            reader.cancel()
        return ws

    @staticmethod
    async def _send_events(ws: web.WebSocketResponse, item, want_contract: str | None,
                           want_name: str | None) -> None:
        block, receipts = item
        for tx, rc in zip(block.txs, receipts, strict=True):
            for c, name, fields in rc.events:
                if want_contract and c != want_contract:
                    continue
                if want_name and name != want_name:
                    continue
                await ws.send_json({"height": block.height, "tx_hash": tx.hash.hex(),
                                    "contract": c, "name": name, "fields": _jsonable(fields)})

    async def _drain(self, ws: web.WebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except CLIENT_GONE:
            pass

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text format from the node's own registry (chainnode.metrics)."""
        return web.Response(body=self.node.metrics.render(),
                            headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)
