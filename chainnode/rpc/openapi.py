"""The RPC's OpenAPI 3.1 description, served at GET /openapi.json."""

from __future__ import annotations

_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def _op(summary: str, ok: str, params: list | None = None, body: dict | None = None,
        errors: tuple[int, ...] = (400,)) -> dict:
    op: dict = {"summary": summary, "responses": {"200": {"description": ok}}}
    for e in errors:
        op["responses"][str(e)] = _ERR
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


def _p(name: str, where: str, desc: str, typ: str = "string", required: bool = True) -> dict:
    return {"name": name, "in": where, "required": required, "description": desc,
            "schema": {"type": typ}}


OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "chainnode RPC", "version": "0.1.0",
             "description": "Submit SM2-signed transactions, read blocks, receipts and state "
                            "with SMT proofs, stream committed events."},
    "paths": {
        "/status": {"get": _op("Chain id, head, view, validators, peers, syncing", "status")},
        "/tx": {"post": _op(
            "Submit a signed transaction", "committed receipt (with ?wait=commit)",
            [_p("wait", "query", "'commit' to wait for the receipt", required=False),
             _p("timeout", "query", "seconds to wait (default 30)", "number", False)],
            {"content": {"application/msgpack": {"schema": {"type": "string",
                                                            "format": "binary"}},
                         "application/json": {"schema": {"type": "object", "properties": {
                             "tx": {"type": "string", "description": "hex of the encoding"}}}}}},
            (400, 401, 403, 409, 413, 429, 504))},
        "/txs": {"post": _op(
            "Submit up to 1,000 signed transactions at once; per-item results in order",
            "results", [_p("wait", "query", "'commit' to wait for the receipts", required=False),
                        _p("timeout", "query", "seconds to wait (default 30)", "number", False)],
            {"content": {"application/msgpack": {"schema": {
                "type": "string", "format": "binary",
                "description": "msgpack list of encoded transactions"}}}},
            (400, 413))},
        "/tx/{hash}": {"get": _op("Transaction, receipt and height", "transaction",
                                  [_p("hash", "path", "tx hash (hex)")], errors=(400, 404))},
        "/blocks/{height}": {"get": _op("Header, tx hashes and commit certificate", "block",
                                        [_p("height", "path", "block height", "integer")],
                                        errors=(400, 404))},
        "/query": {"post": _op(
            "Run a @view method read-only on a query worker (never the block-execution "
            "thread), under node.json's query_gas_limit and query_timeout_ms. Anonymous "
            "(ctx.sender == '') unless signed: 'auth' is an SM2 signature in the 'query' "
            "domain over [\"query\", contract, method, args, time_ms, nonce], accepted within "
            "query_auth_window_ms of the node's clock and only once. 429 QUERY_BUSY when "
            "query_max_inflight queries are running or waiting; 504 QUERY_TIMEOUT.",
            "{height, value, gas_used}", body={
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["contract", "method"],
                    "additionalProperties": False, "properties": {
                        "contract": {"type": "string"}, "method": {"type": "string"},
                        "args": {"type": "object"},
                        "auth": {"type": "object",
                                 "required": ["public_key", "time_ms", "nonce", "signature"],
                                 "properties": {
                                     "public_key": {"type": "string",
                                                    "description": "64-byte SM2 key, hex"},
                                     "time_ms": {"type": "integer",
                                                 "description": "client wall clock, ms"},
                                     "nonce": {"type": "string", "description": "16 bytes, hex"},
                                     "signature": {"type": "string",
                                                   "description": "64 bytes, hex"}}}}}}}},
            errors=(400, 401, 409, 413, 429, 504))},
        "/state/{contract}/{key}": {"get": _op(
            "A state value; with prove=1 an SMT proof, the certified header and certificate",
            "value", [_p("contract", "path", "contract name"),
                      _p("key", "path", "string key (codec-encoded as a str)"),
                      _p("key_hex", "query", "raw codec-encoded key, overrides {key}",
                         required=False),
                      _p("prove", "query", "1 to include the proof", required=False)])},
        "/events": {"get": _op("WebSocket stream of committed events", "upgrade",
                               [_p("contract", "query", "filter by contract", required=False),
                                _p("name", "query", "filter by event name", required=False)])},
        "/metrics": {"get": _op("Prometheus text metrics", "metrics", errors=())},
        "/openapi.json": {"get": _op("This document", "OpenAPI", errors=())},
    },
    "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {
        "type": "object", "properties": {"code": {"type": "string"},
                                         "message": {"type": "string"}}}}}}},
}

# governance routes describe themselves next to their handlers
from chainnode.rpc.governance import OPENAPI_PATHS as _GOV_PATHS  # noqa: E402

OPENAPI["paths"].update(_GOV_PATHS)

from chainnode.rpc.anchor import OPENAPI_PATHS as _ANCHOR_PATHS  # noqa: E402

OPENAPI["paths"].update(_ANCHOR_PATHS)
# the web console's routes (chainnode.rpc.console_routes) likewise
from chainnode.rpc.console_routes import OPENAPI_PATHS as _CONSOLE_PATHS  # noqa: E402

OPENAPI["paths"].update(_CONSOLE_PATHS)
