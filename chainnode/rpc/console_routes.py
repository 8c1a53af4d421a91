"""The operators' web console: static files at /ui and the read-only JSON it needs.

The console (chainnode/rpc/ui/, plain HTML/CSS and ES modules, no build step) is served by the
node itself so it works offline; every file goes out with a strict Content-Security-Policy
(no inline script or style, no other origin). The JSON routes fill gaps of the core RPC:

  GET /console/overview             head, view, mempool, sync, peers, validators with last vote
  GET /console/blocks?before=H&limit=N   block summaries, newest first (N <= 200)
  GET /console/contracts            deployed contracts: version, code hash, owner, exports
  GET /console/contracts/{name}     one contract with its source and deploy/upgrade history
  GET /console/members              accounts with roles
  GET /console/address/{address}    a member record and its recent transactions
  GET /console/events?contract=&name=&limit=&scan=   recent committed events, newest first
  GET /console/search?q=            what a height, hash, address or contract name refers to

Reads run on a small pool of their own, never on the block-execution thread; committed blocks
are immutable, so per-height summaries and events are cached (bounded).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from aiohttp import web

from chainnode import codec
from chainnode.core.tx import _jsonable
from chainnode.errors import BAD_REQUEST, NOT_FOUND, ChainError
from chainnode.exec.contracts import CONTRACTS
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import MEMBERS
from chainnode.rpc.args import int_arg

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
UI_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
            ".svg": "image/svg+xml"}
UI_FILE_RE = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)?\.(html|js|css|svg)$")
MAX_BLOCKS = 200  # per /console/blocks request
MAX_SCAN = 5000  # blocks looked at per /console/events request
MAX_EVENTS = 500
VOTE_WINDOW = 64  # recent certificates read for the validators' last votes
CACHE_HEIGHTS = 8192
FRESH_CERTS = 8  # summaries of the newest blocks are not cached: late votes join their certs
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _int_arg(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    return int_arg(text, name, lo, hi)


class _Lru(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class ConsoleReader:
    """Reads for the console from the node's store; safe off the event loop."""

    def __init__(self, node) -> None:
        self.node = node
        self._summaries = _Lru(CACHE_HEIGHTS)
        self._events = _Lru(CACHE_HEIGHTS)
        self._lists: dict[str, tuple[int, Any]] = {}

    @property
    def db(self):
        return self.node.db

    def head_height(self) -> int:
        return self.node.chain.head.height

    # -- blocks
    def summary(self, height: int) -> dict | None:
        got = self._summaries.get(height)
        if got is not None:
            return got
        block = self.db.block(height)
        if block is None:
            return None
        cert = self.db.certificate(height)
        hd = block.header
        s = {"height": height, "hash": block.hash.hex(), "timestamp_ms": hd.timestamp_ms,
             "proposer": hd.proposer, "view": hd.view, "txs": len(block.txs),
             "signers": [[i, t] for i, t, _ in cert.signatures] if cert else []}
        if height + FRESH_CERTS <= self.head_height():  # a recent certificate may still grow
            self._summaries.put(height, s)
        return s

    def blocks(self, before: int | None, limit: int) -> dict:
        head = self.head_height()
        top = head if before is None else min(before - 1, head)
        out = [s for h in range(top, max(0, top - limit), -1) if (s := self.summary(h))]
        return {"head": head, "blocks": out}

    # -- overview
    def validators(self, head: int) -> list[dict]:
        vals = list(self.node.chain.validators)
        last: dict[int, tuple[int, int]] = {}
        for h in range(head, max(0, head - VOTE_WINDOW), -1):
            s = self.summary(h)
            for i, t in (s or {}).get("signers", []):
                last.setdefault(i, (h, t))
            if len(last) == len(vals):
                break
        peers = {p["public_key"] for p in self._peers()}
        me = getattr(self.node, "index", None)
        out = []
        for i, v in enumerate(vals):
            h, t = last.get(i, (None, None))
            connected = i == me or v.public_key.hex() in peers
            if h is not None and head - h < 8:
                status = "active"
            elif connected:
                status = "lagging"
            else:
                status = "offline"
            out.append({"index": i, "name": v.name, "address": v.address,
                        "public_key": v.public_key.hex(), "last_vote_height": h,
                        "last_vote_ms": t, "connected": connected, "self": i == me,
                        "status": status})
        return out

    def _peers(self) -> list[dict]:
        n = self.node
        return n.peer_list() if hasattr(n, "peer_list") else []

    def overview(self) -> dict:
        n = self.node
        head = n.chain.head
        return {"chain_id": n.chain_id, "node": n.cfg.name, "height": head.height,
                "head_hash": head.block_hash.hex(), "view": n.view,
                "validator_index": n.index, "mempool": len(n.mempool),
                "syncing": bool(getattr(n, "syncing", False)), "peers": self._peers(),
                "validators": self.validators(head.height),
                "blocks": self.blocks(None, 60)["blocks"]}

    # -- state
    def _state(self) -> TxState:
        return TxState(BlockState(self.db))

    def _per_head(self, what: str, fn) -> Any:
        """`fn()` at most once per head height: listing a system table scans the whole state."""
        head = self.head_height()
        got = self._lists.get(what)
        if got is None or got[0] != head:
            got = (head, fn())
            self._lists[what] = got
        return got[1]

    def contracts(self) -> list[dict]:
        return self._per_head("contracts", self._contracts)

    def _contracts(self) -> list[dict]:
        st = self._state()
        out = []
        for c, key, _ in self.db.state_items(CONTRACTS):
            if c != CONTRACTS:
                continue
            name = codec.decode(key)
            if not isinstance(name, str):
                continue
            rec = st.get(CONTRACTS, name)
            if isinstance(rec, dict):
                out.append(self._contract_doc(name, rec, st, with_source=False))
        return sorted(out, key=lambda d: d["name"])

    def _contract_doc(self, name: str, rec: dict, st: TxState, with_source: bool) -> dict:
        code_hash = rec["code_hash"]
        doc = {"name": name, "version": rec.get("version"), "code_hash": code_hash.hex(),
               "owner": rec.get("owner"), "frozen": bool(rec.get("frozen")),
               "deployed_at": rec.get("deployed_at"), "updated_at": rec.get("updated_at"),
               "exports": {}}
        try:
            compiled = self.node.chain.executor.registry.load(st, name)
            doc["exports"] = dict(compiled.exports) if compiled is not None else {}
        except Exception as exc:  # noqa: BLE001 - shown, never fatal for a read
            doc["exports_error"] = str(exc)
        if with_source:
            doc["source"] = st.get(CONTRACTS, ["code", code_hash])
        return doc

    def contract(self, name: str) -> dict | None:
        st = self._state()
        rec = st.get(CONTRACTS, name)
        if not isinstance(rec, dict):
            return None
        doc = self._contract_doc(name, rec, st, with_source=True)
        hist = self.events(CONTRACTS, None, MAX_EVENTS, MAX_SCAN)["events"]
        doc["history"] = [e for e in reversed(hist) if e["fields"].get("name") == name
                          and e["name"] in ("ContractDeployed", "ContractUpgraded",
                                            "ContractFrozen", "ContractUnfrozen")]
        return doc

    def members(self) -> list[dict]:
        return self._per_head("members", self._members)

    def _members(self) -> list[dict]:
        out = []
        for c, key, value in self.db.state_items(MEMBERS):
            if c != MEMBERS:
                continue
            addr, rec = codec.decode(key), codec.decode(value)
            if isinstance(addr, str) and isinstance(rec, dict):
                out.append({"address": addr, **_jsonable(rec)})
        return sorted(out, key=lambda m: (m.get("since", 0), m["address"]))

    def address(self, addr: str, scan: int) -> dict:
        rec = self._state().get(MEMBERS, addr)
        head = self.head_height()
        txs = []
        for h in range(head, max(0, head - scan), -1):
            block = self.db.block(h)
            for i, tx in enumerate(block.txs if block else ()):
                if tx.sender_address == addr:
                    txs.append({"hash": tx.hash.hex(), "height": h, "index": i,
                                "contract": tx.contract, "method": tx.method})
            if len(txs) >= 100:
                break
        return {"address": addr, "member": _jsonable(rec) if isinstance(rec, dict) else None,
                "txs": txs, "scanned_from": max(1, head - scan + 1)}

    # -- events
    def block_events(self, height: int) -> list[dict]:
        got = self._events.get(height)
        if got is not None:
            return got
        block = self.db.block(height)
        out: list[dict] = []
        for tx in block.txs if block else ():
            rc = self.db.receipt(tx.hash)
            for c, name, fields in rc.events if rc else ():
                out.append({"height": height, "tx_hash": tx.hash.hex(), "contract": c,
                            "name": name, "fields": _jsonable(fields)})
        self._events.put(height, out)
        return out

    def events(self, contract: str | None, name: str | None, limit: int, scan: int) -> dict:
        head = self.head_height()
        out: list[dict] = []
        low = max(1, head - scan + 1)
        for h in range(head, low - 1, -1):
            for e in reversed(self.block_events(h)):
                if (contract is None or e["contract"] == contract) and \
                        (name is None or e["name"] == name):
                    out.append(e)
            if len(out) >= limit:
                break
        return {"head": head, "scanned_from": low, "events": out[:limit]}

    # -- search
    def search(self, q: str) -> dict:
        q = q.strip()
        head = self.head_height()
        if q.isascii() and q.isdigit():
            h = int(q)
            if h <= head:
                return {"kind": "block", "height": h}
            return {"kind": "none", "message": f"no block at height {h} (head is {head})"}
        low = q.lower().removeprefix("0x")
        if HEX64.match(low):
            raw = bytes.fromhex(low)
            if self.db.tx_location(raw) is not None or raw in self.node.mempool:
                return {"kind": "tx", "hash": low}
            h = self.db.height_of(raw)
            if h is not None:
                return {"kind": "block", "height": h}
            return {"kind": "none", "message": f"no block or transaction {low}"}
        if HEX40.match(low):
            return {"kind": "address", "address": low}
        if isinstance(self._state().get(CONTRACTS, q), dict):
            return {"kind": "contract", "name": q}
        return {"kind": "none", "message": "enter a height, a block or transaction hash "
                                           "(64 hex), an address (40 hex) or a contract name"}


def _ui_file(rel: str) -> tuple[bytes, str]:
    if not UI_FILE_RE.match(rel):
        raise ChainError(NOT_FOUND, f"no console file {rel}")
    res = resources.files("chainnode.rpc").joinpath("ui", *rel.split("/"))
    try:
        data = res.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ChainError(NOT_FOUND, f"no console file {rel}") from None
    return data, UI_TYPES["." + rel.rsplit(".", 1)[1]]


def _ui_response(rel: str) -> web.Response:
    data, ctype = _ui_file(rel)
    resp = web.Response(body=data, content_type=ctype, charset="utf-8")
    h = resp.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Frame-Options"] = "DENY"
    h["Cache-Control"] = "no-cache"
    return resp


def add_routes(app: web.Application, node) -> None:
    reader = ConsoleReader(node)
    pool = ThreadPoolExecutor(2, thread_name_prefix="console")

    async def run(fn, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def on_cleanup(_app) -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(on_cleanup)

    async def ui_index(request: web.Request) -> web.Response:
        return _ui_response("index.html")  # /ui and /ui/: its links are absolute

    async def ui_file(request: web.Request) -> web.Response:
        return _ui_response(request.match_info["path"])

    async def overview(request: web.Request) -> web.Response:
        return web.json_response(await run(reader.overview))

    async def blocks(request: web.Request) -> web.Response:
        before = request.query.get("before")
        b = _int_arg(request, "before", 0, 1, 2**63) if before else None
        limit = _int_arg(request, "limit", 50, 1, MAX_BLOCKS)
        return web.json_response(await run(reader.blocks, b, limit))

    async def contracts(request: web.Request) -> web.Response:
        return web.json_response({"contracts": await run(reader.contracts)})

    async def contract(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        doc = await run(reader.contract, name)
        if doc is None:
            raise ChainError(NOT_FOUND, f"no contract {name}")
        return web.json_response(doc)

    async def members(request: web.Request) -> web.Response:
        return web.json_response({"members": await run(reader.members)})

    async def address(request: web.Request) -> web.Response:
        addr = request.match_info["address"].lower()
        if not HEX40.match(addr):
            raise ChainError(BAD_REQUEST, "address must be 40 hex characters")
        scan = _int_arg(request, "scan", 1000, 1, MAX_SCAN)
        return web.json_response(await run(reader.address, addr, scan))

    async def events(request: web.Request) -> web.Response:
        limit = _int_arg(request, "limit", 100, 1, MAX_EVENTS)
        scan = _int_arg(request, "scan", 1000, 1, MAX_SCAN)
        return web.json_response(await run(
            reader.events, request.query.get("contract") or None,
            request.query.get("name") or None, limit, scan))

    async def search(request: web.Request) -> web.Response:
        q = request.query.get("q", "")
        if not q or len(q) > 200:
            raise ChainError(BAD_REQUEST, "q must be 1 to 200 characters")
        return web.json_response(await run(reader.search, q))

    r = app.router
    r.add_get("/ui", ui_index)
    r.add_get("/ui/", ui_index)
    r.add_get("/ui/{path:.+}", ui_file)
    r.add_get("/console/overview", overview)
    r.add_get("/console/blocks", blocks)
    r.add_get("/console/contracts", contracts)
    r.add_get("/console/contracts/{name}", contract)
    r.add_get("/console/members", members)
    r.add_get("/console/address/{address}", address)
    r.add_get("/console/events", events)
    r.add_get("/console/search", search)


# -- OpenAPI entries of these routes (merged into chainnode.rpc.openapi). Self-contained: every
# 200 has its content type and schema, every error the shared Error body.
_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_HEXS = {"type": "string", "pattern": "^[0-9a-f]*$"}


def _o(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "required": sorted(required),
            "properties": {**required, **(optional or {})}}


def _arr(items: dict) -> dict:
    return {"type": "array", "items": items}


_SUMMARY = _o({"height": _INT, "hash": _HEXS, "timestamp_ms": _INT, "proposer": _INT,
               "view": _INT, "txs": _INT, "signers": _arr(_arr(_INT))})
_EVENT = _o({"height": _INT, "tx_hash": _HEXS, "contract": _STR, "name": _STR, "fields": {}})
_CONTRACT = _o({"name": _STR, "version": _INT, "code_hash": _HEXS, "owner": _STR,
                "frozen": {"type": "boolean"}, "deployed_at": _INT, "updated_at": _INT,
                "exports": {"type": "object",
                            "additionalProperties": {"enum": ["export", "view"]}}},
               {"exports_error": _STR})
_MEMBER = _o({"address": _STR}, {"name": _STR, "roles": _arr(_STR),
                                 "active": {"type": "boolean"}, "since": _INT})
_VALIDATOR = _o({"index": _INT, "name": _STR, "address": _STR, "public_key": _HEXS,
                 "last_vote_height": _INT_OR_NULL, "last_vote_ms": _INT_OR_NULL,
                 "connected": {"type": "boolean"}, "self": {"type": "boolean"},
                 "status": {"enum": ["active", "lagging", "offline"]}})


def _get(summary: str, ok: dict, params: list[dict] | None = None,
         errors: tuple[int, ...] = (400,), ctype: str = "application/json") -> dict:
    resp = {"description": summary, "content": {ctype: {"schema": ok}}} \
        if ctype != "files" else {"description": summary, "content": {
            t: {"schema": _STR} for t in sorted(set(UI_TYPES.values()))}}
    op: dict = {"summary": summary, "responses": {"200": resp}}
    for e in errors:
        op["responses"][str(e)] = _ERR
    if params:
        op["parameters"] = params
    return {"get": op}


def _q(name: str, desc: str, schema: dict, where: str = "query",
       required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": desc, "schema": schema}


_HTML = "The web console (HTML, served with a strict Content-Security-Policy)"
OPENAPI_PATHS: dict = {
    "/ui": _get(_HTML, _STR, errors=(), ctype="text/html"),
    "/ui/": _get(_HTML, _STR, errors=(), ctype="text/html"),
    "/ui/{path}": _get("A console file (HTML, CSS, JS module), by name", _STR,
                       [_q("path", "file under the console directory", _STR, "path")],
                       (404,), ctype="files"),
    "/console/overview": _get(
        "Head, view, mempool, sync, peers, validators with their last commit vote, last 60 "
        "block summaries",
        _o({"chain_id": _STR, "node": _STR, "height": _INT, "head_hash": _HEXS, "view": _INT,
            "validator_index": _INT_OR_NULL, "mempool": _INT, "syncing": {"type": "boolean"},
            "peers": _arr({"type": "object"}), "validators": _arr(_VALIDATOR),
            "blocks": _arr(_SUMMARY)}), errors=()),
    "/console/blocks": _get(
        "Block summaries newest first: height, hash, time, proposer, view, tx count, "
        "certificate signers [index, vote time]",
        _o({"head": _INT, "blocks": _arr(_SUMMARY)}), [
            _q("before", "only heights below this", {"type": "integer", "minimum": 1}),
            _q("limit", f"at most this many (1..{MAX_BLOCKS})",
               {"type": "integer", "minimum": 1, "maximum": MAX_BLOCKS})]),
    "/console/contracts": _get("Deployed contracts: version, code hash, owner, frozen, "
                               "exported methods", _o({"contracts": _arr(_CONTRACT)}),
                               errors=()),
    "/console/contracts/{name}": _get(
        "One contract with its source and lifecycle history (last 5,000 blocks)",
        {**_CONTRACT, "required": sorted([*_CONTRACT["required"], "source", "history"]),
         "properties": {**_CONTRACT["properties"], "source": _STR, "history": _arr(_EVENT)}},
        [_q("name", "contract name", _STR, "path")], (404,)),
    "/console/members": _get("Accounts of sys.members with roles",
                             _o({"members": _arr(_MEMBER)}), errors=()),
    "/console/address/{address}": _get(
        "A member record and its recent transactions",
        _o({"address": _STR, "member": {"type": ["object", "null"]}, "scanned_from": _INT,
            "txs": _arr(_o({"hash": _HEXS, "height": _INT, "index": _INT, "contract": _STR,
                            "method": _STR}))}),
        [_q("address", "40 hex characters", {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"},
            "path"),
         _q("scan", f"blocks to look back (1..{MAX_SCAN})",
            {"type": "integer", "minimum": 1, "maximum": MAX_SCAN})]),
    "/console/events": _get(
        "Recent committed events, newest first",
        _o({"head": _INT, "scanned_from": _INT, "events": _arr(_EVENT)}), [
            _q("contract", "only this contract", _STR), _q("name", "only this event", _STR),
            _q("limit", f"at most this many (1..{MAX_EVENTS})",
               {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS}),
            _q("scan", f"blocks to look back (1..{MAX_SCAN})",
               {"type": "integer", "minimum": 1, "maximum": MAX_SCAN})]),
    "/console/search": _get(
        "What a height, hash, address or contract name refers to",
        _o({"kind": {"enum": ["block", "tx", "address", "contract", "none"]}},
           {"height": _INT, "hash": _HEXS, "address": _STR, "name": _STR, "message": _STR}),
        [_q("q", "height, 64-hex hash, 40-hex address or contract name",
            {"type": "string", "minLength": 1, "maxLength": 200}, required=True)]),
}
