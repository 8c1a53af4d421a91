"""Read-only governance RPC: the committee, the validator set in state, and proposals.

Routes (added to the main app by `add_routes`):
  GET /governance                      committee, thresholds, the committed (next) validator set
  GET /governance/proposals?status=S   newest first; S in open|passed|failed|expired; &limit=N
  GET /governance/proposals/{id}       one proposal with its votes and tally
Statuses are as the NEXT block sees them (a proposal whose last voting height has passed shows
"expired" before any transaction records it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chainnode.core.tx import _jsonable
from chainnode.errors import BAD_REQUEST, NOT_FOUND, ChainError
from chainnode.exec import gov_kinds, governance
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import VALIDATORS


def _state(node) -> tuple[TxState, int]:
    head = node.chain.head
    return TxState(BlockState(node.db)), head.height


async def _read(node, fn) -> Any:
    return await asyncio.get_running_loop().run_in_executor(node.exec_pool, fn)


def add_routes(app: web.Application, node) -> None:
    async def overview(request: web.Request) -> web.Response:
        def read() -> dict:
            st, height = _state(node)
            vs = gov_kinds.validator_set(st)
            return {"height": height, "committee": governance.committee(st),
                    "next_validators": [
                        {"name": name, "public_key": pub.hex(),
                         "p2p": st.get(VALIDATORS, ["p2p", name]),
                         "joined": st.get(VALIDATORS, ["joined", name], 0)}
                        for name, pub in vs],
                    "next_validators_hash": node.chain.next_vhash.hex(),
                    "params": dict(node.chain.params)}
        return web.json_response(_jsonable(await _read(node, read)))

    async def proposals(request: web.Request) -> web.Response:
        status = request.query.get("status") or None
        if status is not None and status not in governance.STATUSES:
            raise ChainError(BAD_REQUEST, f"status must be one of "
                                          f"{', '.join(governance.STATUSES)}")
        try:
            limit = int(request.query.get("limit", governance.MAX_LIST))
        except ValueError:
            raise ChainError(BAD_REQUEST, "limit must be an integer") from None
        if not 1 <= limit <= governance.MAX_LIST:
            raise ChainError(BAD_REQUEST, f"limit must be in [1, {governance.MAX_LIST}]")

        def read() -> dict:
            st, height = _state(node)
            return {"height": height,
                    "proposals": governance.list_proposals(st, height + 1, status, limit)}
        return web.json_response(_jsonable(await _read(node, read)))

    async def proposal(request: web.Request) -> web.Response:
        text = request.match_info["id"]
        if not (text.isascii() and text.isdigit()) or len(text) > 18:  # "²".isdigit()
            raise ChainError(BAD_REQUEST, "proposal id must be a positive integer")
        pid = int(text)

        def read() -> dict | None:
            st, height = _state(node)
            p = governance.get_proposal(st, pid, height + 1)
            return None if p is None else {"height": height, "proposal": p}
        doc = await _read(node, read)
        if doc is None:
            raise ChainError(NOT_FOUND, f"no proposal {pid}")
        return web.json_response(_jsonable(doc))

    app.router.add_get("/governance", overview)
    app.router.add_get("/governance/proposals", proposals)
    app.router.add_get("/governance/proposals/{id}", proposal)


def _get(summary: str, params: list[dict]) -> dict:
    err = {"description": "error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    return {"get": {"summary": summary, "parameters": params,
                    "responses": {"200": {"description": summary}, "400": err, "404": err}}}


def _param(name: str, where: str, desc: str, typ: str, required: bool) -> dict:
    return {"name": name, "in": where, "required": required, "description": desc,
            "schema": {"type": typ}}


OPENAPI_PATHS: dict = {
    "/governance": _get("Governance committee, thresholds, next validator set, live params",
                        []),
    "/governance/proposals": _get("Governance proposals, newest first", [
        _param("status", "query", "open | passed | failed | expired", "string", False),
        _param("limit", "query", "at most this many (1..100)", "integer", False)]),
    "/governance/proposals/{id}": _get("One governance proposal with its votes and tally", [
        _param("id", "path", "proposal id", "integer", True)]),
}
