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
from chainnode.rpc.args import int_arg


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
        limit = int_arg(request.query.get("limit", governance.MAX_LIST), "limit", 1,
                        governance.MAX_LIST)

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


def openapi_paths() -> dict:
    """The OpenAPI entries of these routes (merged into chainnode.rpc.openapi)."""
    from chainnode.rpc.openapi import op, param, ref

    return {
        "/governance": {"get": op(
            "Governance committee, thresholds, next validator set, live params",
            {"200": ref("Governance")}, errors=())},
        "/governance/proposals": {"get": op(
            "Governance proposals, newest first", {"200": ref("ProposalList")}, params=[
                param("status", "query", "open | passed | failed | expired",
                      {"enum": list(governance.STATUSES)}),
                param("limit", "query", f"at most this many (1..{governance.MAX_LIST})",
                      {"type": "integer", "minimum": 1, "maximum": governance.MAX_LIST})])},
        "/governance/proposals/{id}": {"get": op(
            "One governance proposal with its votes and tally", {"200": ref("ProposalDetail")},
            params=[param("id", "path", "proposal id", {"type": "integer", "minimum": 1})],
            errors=(400, 404))},
    }
