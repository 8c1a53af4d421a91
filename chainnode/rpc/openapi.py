"""The RPC's OpenAPI 3.1 description, served at GET /openapi.json.

Every route the server registers is here (tests/integration/test_openapi_fuzz.py checks the
router against it and fuzzes each operation with schemathesis: no 5xx, every answer matches
its schema). Statuses listed per operation are all the ones the node can answer with; every
error is the one Error body.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
MSGPACK = "application/msgpack"

HEX = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SM3 hash, hex"}
ADDRESS = {"type": "string", "pattern": "^[0-9a-f]{40}$", "description": "account address"}
UINT = {"type": "integer", "minimum": 0}
ANY: dict = {"description": "a codec value as JSON: bytes appear as {\"hex\": \"…\"}"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None,
        closed: bool = True) -> dict:
    """An object schema: `required` fields always present, `optional` ones sometimes."""
    schema: dict = {"type": "object", "required": sorted(required),
                    "properties": {**required, **(optional or {})}}
    if closed:
        schema["additionalProperties"] = False
    return schema


ERROR_CODES_DOC = ("a stable code (TX_MALFORMED, TX_BAD_SIGNATURE, NOT_FOUND, BAD_REQUEST, "
                   "QUERY_BUSY, UNAVAILABLE, …; see chainnode.errors) and a readable message")

ERROR_BODY = {**obj({"code": {"type": "string", "minLength": 1},
                     "message": {"type": "string"}}), "description": ERROR_CODES_DOC}

SCHEMAS: dict[str, dict] = {
    "Error": {**obj({"error": ERROR_BODY}),
              "description": "every error answer, whatever its status"},
    "Validator": obj({"name": {"type": "string"}, "public_key": HEX, "address": ADDRESS}),
    "Peer": obj({"public_key": HEX, "role": {"type": "string"},
                 "remote": {"type": ["string", "null"]}}),
    "Status": obj({
        "chain_id": {"type": "string"}, "node": {"type": "string"}, "height": UINT,
        "head_hash": HASH, "state_root": HASH, "view": UINT,
        "validator_index": {"type": ["integer", "null"], "minimum": 0,
                            "description": "null on an observer"},
        "validators": {"type": "array", "items": ref("Validator")},
        "peers": {"type": "array", "items": ref("Peer")},
        "syncing": {"type": "boolean"}, "mempool": UINT, "genesis_hash": HASH},
        {"validator_set": obj({
            "from_height": UINT, "n": UINT, "f": UINT,
            "members": {"type": "array", "items": obj({
                "index": UINT, "name": {"type": "string"}, "public_key": HEX,
                "address": ADDRESS, "joined": UINT})}},
        )}),
    "Event": obj({"contract": {"type": "string"}, "name": {"type": "string"},
                  "fields": {"type": "object"}}),
    "Receipt": obj({"tx_hash": HASH, "status": {"enum": ["ok", "failed"]}, "gas_used": UINT,
                    "value": ANY, "events": {"type": "array", "items": ref("Event")},
                    "error_code": {"type": "string"}, "error_message": {"type": "string"}}),
    "Transaction": obj({
        "hash": HASH, "chain_id": {"type": "string"}, "nonce": HEX, "expires_at": UINT,
        "sender": ADDRESS, "sender_public_key": HEX,
        "kind": {"enum": ["deploy", "call", "system"]}, "contract": {"type": "string"},
        "method": {"type": "string"}, "args": {"type": "object"}, "gas_limit": UINT,
        "signature": HEX}),
    "TxPending": obj({"hash": HASH, "status": {"const": "pending"}}),
    "TxCommitted": obj({"hash": HASH, "status": {"const": "committed"}, "height": UINT,
                        "receipt": ref("Receipt")}),
    "TxDetail": {"oneOf": [ref("TxPending"), obj({
        "hash": HASH, "status": {"const": "committed"}, "height": UINT, "index": UINT,
        "tx": ref("Transaction"), "receipt": ref("Receipt")})]},
    "BatchItem": {"oneOf": [
        ref("TxPending"), ref("TxCommitted"),
        obj({"hash": HASH, "status": {"const": "pending"}, "error": ERROR_BODY}),
        obj({"error": ERROR_BODY})]},
    "BatchResult": obj({"accepted": UINT, "rejected": UINT,
                        "results": {"type": "array", "items": ref("BatchItem")}}),
    "Header": obj({
        "chain_id": {"type": "string"}, "height": UINT, "prev_hash": HASH,
        "timestamp_ms": UINT, "proposer": UINT, "view": UINT,
        "tx_root": {**HASH, "description": "Merkle root over the block's txs, leaf i = SM3("
                    "\"chainnode/tx-witness\" 0x00 || tx hash || signature): it commits to "
                    "the signatures too, not only to the tx hashes listed in tx_hashes"},
        "receipt_root": HASH, "state_root": HASH, "validators_hash": HASH,
        "next_validators_hash": HASH, "last_commit_hash": HASH, "hash": HASH}),
    "Block": obj({
        "height": UINT, "hash": HASH, "header": ref("Header"),
        "header_wire": {**HEX, "description": "msgpack of the header's wire form, hex"},
        "tx_hashes": {"type": "array", "items": HASH},
        "certificate": obj({
            "view": UINT, "block_hash": HASH,
            "signatures": {"type": "array", "description": "[validator index, time_ms, "
                           "signature hex]", "items": {"type": "array", "prefixItems": [
                               UINT, UINT, HEX], "minItems": 3, "maxItems": 3}},
            "wire": HEX})}),
    "QueryRequest": {**obj({"contract": {"type": "string"}, "method": {"type": "string"}},
                           {"args": {"type": "object"}, "auth": obj({
                               "public_key": {**HEX, "description": "64-byte SM2 key, hex"},
                               "time_ms": {"type": "integer",
                                           "description": "client wall clock, ms"},
                               "nonce": {**HEX, "description": "16 bytes, hex"},
                               "signature": {**HEX, "description": "64 bytes, hex"}})})},
    "QueryResult": obj({"height": UINT, "value": ANY}, {"gas_used": UINT}),
    "StateValue": obj({"contract": {"type": "string"}, "key_hex": HEX,
                       "exists": {"type": "boolean"}, "height": UINT},
                      {"value_hex": HEX, "value": ANY,
                       "proof": {**HEX, "description": "msgpack of the SMT proof, hex"},
                       "header_wire": HEX, "certificate": HEX}),
    "EventMessage": {**obj({"height": UINT, "tx_hash": HASH, "contract": {"type": "string"},
                            "name": {"type": "string"}, "fields": {"type": "object"}}),
                     "description": "one WebSocket text message of GET /events"},
    "Governance": obj({
        "height": UINT, "committee": {"type": "object"},
        "next_validators": {"type": "array", "items": {"type": "object"}},
        "next_validators_hash": HASH, "params": {"type": "object"}}, closed=False),
    "Proposal": obj({"id": UINT, "kind": {"type": "string"},
                     "status": {"enum": ["open", "passed", "failed", "expired"]}},
                    closed=False),
    "ProposalList": obj({"height": UINT, "proposals": {"type": "array",
                                                       "items": ref("Proposal")}}),
    "ProposalDetail": obj({"height": UINT, "proposal": ref("Proposal")}),
    "OpenAPI": obj({"openapi": {"type": "string"}, "paths": {"type": "object"}},
                   closed=False),
}

ERROR_TEXT = {400: "malformed request", 401: "bad signature or stale signed query",
              403: "sender is not a member", 404: "not found", 409: "replayed or duplicate",
              410: "state at that height is pruned on this node (STATE_PRUNED)",
              413: "body too large", 415: "unsupported content type",
              429: "busy: mempool, sender quota or queries",
              503: "node stopping (or its storage failed)", 504: "timed out"}


def _error(status: int) -> dict:
    return {"description": ERROR_TEXT[status], "content": {JSON: {"schema": ref("Error")}}}


def op(summary: str, ok: dict[str, Any], *, params: list | None = None,
       body: dict | None = None, errors: tuple[int, ...] = (400,)) -> dict:
    """One operation; `ok` maps a success status to its body schema (or a full response);
    503 is added everywhere: a stopping node answers any request with it."""
    responses: dict[str, Any] = {}
    for status, schema in ok.items():
        if "description" in schema and ("content" in schema or len(schema) == 1):
            responses[status] = schema
        else:
            responses[status] = {"description": summary,
                                 "content": {JSON: {"schema": schema}}}
    for e in sorted({*errors, 503}):
        responses[str(e)] = _error(e)
    out: dict = {"summary": summary, "responses": responses}
    if params:
        out["parameters"] = params
    if body:
        out["requestBody"] = body
    return out


def param(name: str, where: str, desc: str, schema: dict | None = None,
          required: bool | None = None) -> dict:
    return {"name": name, "in": where, "required": where == "path" if required is None
            else required, "description": desc, "schema": schema or {"type": "string"}}


WAIT = [param("wait", "query", "'commit': answer when committed (or at the timeout)",
              {"enum": ["commit"]}),
        param("timeout", "query", "seconds to wait with wait=commit (default 30, capped at "
              "300)", {"type": "number", "exclusiveMinimum": 0, "maximum": 300})]
TX_BODY = {"required": True, "content": {
    MSGPACK: {"schema": {"type": "string", "format": "binary",
                         "description": "the canonical msgpack encoding of a signed tx"}},
    JSON: {"schema": obj({"tx": {**HEX, "description": "hex of the msgpack encoding"}})}}}
BATCH_BODY = {"required": True, "content": {MSGPACK: {"schema": {
    "type": "string", "format": "binary",
    "description": "msgpack list of 1 to 1,000 encoded transactions"}}}}
QUERY_DOC = (
    "Run a @view method read-only on a query worker (never the block-execution thread), "
    "under node.json's query_gas_limit and query_timeout_ms. Anonymous (ctx.sender == '') "
    "unless signed: 'auth' is an SM2 signature in the 'query' domain over [\"query\", "
    "contract, method, args, time_ms, nonce], accepted within query_auth_window_ms of the "
    "node's clock and only once. 429 QUERY_BUSY when query_max_inflight queries are running "
    "or waiting; 504 QUERY_TIMEOUT.")

PATHS: dict[str, dict] = {
    "/status": {"get": op("Chain id, head, view, validators, peers, syncing",
                          {"200": ref("Status")})},
    "/tx": {"post": op(
        "Submit a signed transaction", {"200": ref("TxCommitted"), "202": ref("TxPending")},
        params=WAIT, body=TX_BODY, errors=(400, 401, 403, 409, 413, 415, 429, 504))},
    "/txs": {"post": op(
        "Submit up to 1,000 signed transactions at once; per-item results in order",
        {"200": ref("BatchResult")}, params=WAIT, body=BATCH_BODY, errors=(400, 413, 415))},
    "/tx/{hash}": {"get": op("A transaction: pending, or committed with its receipt",
                             {"200": ref("TxDetail")},
                             params=[param("hash", "path", "tx hash (hex)", HEX)],
                             errors=(400, 404))},
    "/blocks/{height}": {"get": op(
        "Header, tx hashes and commit certificate", {"200": ref("Block")},
        params=[param("height", "path", "block height", {"type": "integer"})],
        errors=(400, 404))},
    "/query": {"post": op(
        QUERY_DOC, {"200": ref("QueryResult")},
        body={"required": True, "content": {JSON: {"schema": ref("QueryRequest")}}},
        errors=(400, 401, 403, 404, 409, 413, 415, 429, 504))},
    "/state/{contract}/{key}": {"get": op(
        "A state value; with prove=1 an SMT proof, the certified header and certificate",
        {"200": ref("StateValue")},
        params=[param("contract", "path", "contract name"),
                param("key", "path", "string key (codec-encoded as a str)"),
                param("key_hex", "query", "raw codec-encoded key (hex), overrides {key}",
                      HEX),
                param("prove", "query", "1, true or yes: include the proof",
                      {"enum": ["1", "true", "yes", "0", "false", "no"]})],
        errors=(400, 404))},
    "/events": {"get": op(
        "WebSocket stream of committed events (EventMessage per text message); a request "
        "without the WebSocket upgrade is refused with 400",
        {"101": {"description": "switching to WebSocket; messages are EventMessage"}},
        params=[param("contract", "query", "only this contract's events"),
                param("name", "query", "only events of this name")])},
    "/metrics": {"get": op("Prometheus text metrics (docs/operations.md lists them)", {
        "200": {"description": "Prometheus text format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}, errors=())},
    "/openapi.json": {"get": op("This document", {"200": ref("OpenAPI")}, errors=())},
}

OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "chainnode RPC", "version": "0.1.0",
             "description": "Submit SM2-signed transactions, read blocks, receipts and state "
                            "with SMT proofs, stream committed events. Every error is "
                            "{\"error\": {\"code\", \"message\"}} (components.schemas.Error)."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS},
}

# governance routes describe themselves next to their handlers
from chainnode.rpc.governance import openapi_paths as _gov_paths  # noqa: E402

PATHS.update(_gov_paths())

from chainnode.rpc.anchor import openapi_paths as _anchor_paths  # noqa: E402

PATHS.update(_anchor_paths())
# the web console's routes (chainnode.rpc.console_routes) likewise
from chainnode.rpc.console_routes import OPENAPI_PATHS as _CONSOLE_PATHS  # noqa: E402

PATHS.update(_CONSOLE_PATHS)
