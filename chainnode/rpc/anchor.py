"""Side-chain RPC: what a relayer reads from a chain to drive `sys.anchor` on another.

Routes (added to the main app by `add_routes`; all read-only, JSON, bytes as hex):
  GET /anchor/clients                   every light client here, with status and heights
  GET /anchor/clients/{chain_id}        one client: status, anchored heights, evidence
  GET /anchor/header/{height}           header wire + commit certificate (codec, hex), and the
                                        validator set it announces when it changes the set
                                        (from the epoch history: any committed height)
  GET /anchor/proof/state?contract=C&key_hex=K[&height=H]
                                        SMT proof (membership or absence) at height H (head
                                        by default) with that header and certificate
  GET /anchor/proof/receipt/{tx_hash}   the receipt's bytes and Merkle path, header, cert
  GET /anchor/packets/{dst_chain}?from=N&limit=M
                                        packets this chain sent to dst_chain still awaiting
                                        an ack (sequence >= N), with their wire form; looks
                                        at most MAX_SCAN sequences, continue at `next_from`;
                                        with &settled_from=S also the timed-out ("settled")
                                        ones >= S, which the destination must still be handed
Old state roots stay provable for node.json `state_keep_versions` heights below the head
(all of them on an archive node, 0); below that the answer is 410 STATE_PRUNED. The value
itself is served only at the head (a relayer knows the commitment it proves).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chainnode import codec
from chainnode.anchor import packets
from chainnode.core.genesis import validators_hash
from chainnode.crypto.merkle import merkle_proof
from chainnode.errors import BAD_REQUEST, NOT_FOUND, ChainError
from chainnode.exec import anchor as sys_anchor
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import CallFailed
from chainnode.rpc.args import int_arg
from chainnode.store.db import state_key_hash

MAX_PACKETS = 100
MAX_SCAN = 2_000  # sequences one /anchor/packets request looks at
MAX_INT = 2**63 - 1  # heights and sequences are stored as 64-bit integers


def _int_arg(request: web.Request, name: str, default: int) -> int:
    return int_arg(request.query.get(name, default), name, 0, MAX_INT)


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ChainError(BAD_REQUEST, f"{what} must be hex") from None


def _certified(db, height: int) -> dict:
    block = db.block(height) if height > 0 else None
    cert = db.certificate(height) if height > 0 else None
    if block is None or cert is None:
        raise ChainError(NOT_FOUND, f"no certified block at height {height}")
    return {"height": height, "header_hex": codec.encode(block.header.to_wire()).hex(),
            "certificate_hex": cert.encode().hex(), "header": block.header.to_json()}


def add_routes(app: web.Application, node) -> None:
    async def run(fn) -> web.Response:
        try:
            out = await asyncio.get_running_loop().run_in_executor(node.exec_pool, fn)
        except CallFailed as exc:
            raise ChainError(NOT_FOUND if exc.code.endswith("NO_CLIENT") else BAD_REQUEST,
                             exc.message) from None
        return web.json_response(out)

    def view(method: str, **args) -> Any:
        st = TxState(BlockState(node.db))
        return sys_anchor.query(st, node.chain._last_ts, method, args).value

    async def clients(request: web.Request) -> web.Response:
        return await run(lambda: view("clients"))

    async def client(request: web.Request) -> web.Response:
        return await run(lambda: view("client", chain_id=request.match_info["chain_id"]))

    async def header(request: web.Request) -> web.Response:
        height = int_arg(request.match_info["height"], "height", 0, MAX_INT)

        def read() -> dict:
            out = _certified(node.db, height)
            h = node.db.block(height).header
            out["next_validators"] = None
            if h.next_validators_hash != h.validators_hash:
                # the set that signs height+1, from the chain's epoch history: served for any
                # committed height, even after later changes replaced it in state
                nxt = node.chain.validators_at(height + 1)
                if validators_hash(nxt) == h.next_validators_hash:
                    out["next_validators"] = [[v.name, v.public_key.hex()] for v in nxt]
            return out
        return await run(read)

    async def state_proof(request: web.Request) -> web.Response:
        contract = request.query.get("contract", "")
        key = _hex(request.query.get("key_hex", ""), "key_hex")
        height = _int_arg(request, "height", node.chain.head.height)

        def read() -> dict:
            out = _certified(node.db, height)
            root = node.db.block(height).header.state_root
            kh = state_key_hash(contract, key)
            vh, proof = node.db.prove_at(height, root, kh)  # STATE_PRUNED (410) if pruned
            out["value_hash"] = (vh or b"").hex()
            out["exists"] = bool(out["value_hash"])
            out["proof_hex"] = codec.encode(proof.to_wire()).hex()
            if height == node.chain.head.height:
                value = node.db.state_get(contract, key)
                out["value_hex"] = None if value is None else value.hex()
            return out
        return await run(read)

    async def receipt_proof(request: web.Request) -> web.Response:
        tx_hash = _hex(request.match_info["tx_hash"], "tx_hash")

        def read() -> dict:
            loc = node.db.tx_location(tx_hash)
            if loc is None:
                raise ChainError(NOT_FOUND, "no committed transaction with that hash")
            height, index = loc
            out = _certified(node.db, height)
            leaves = [node.db.receipt(t.hash).encode() for t in node.db.block(height).txs]
            out.update(index=index, receipt_hex=leaves[index].hex(),
                       path=[[side, sib.hex()] for side, sib in merkle_proof(leaves, index)])
            return out
        return await run(read)

    async def pending(request: web.Request) -> web.Response:
        dst = request.match_info["dst_chain"]
        start = max(_int_arg(request, "from", 1), 1)
        limit = min(max(_int_arg(request, "limit", MAX_PACKETS), 1), MAX_PACKETS)
        # a packet proven timed out stays committed until the destination takes it (its
        # ordered channel moves past it); the relayer asks for those from the destination's
        # next expected sequence on
        settled_from = _int_arg(request, "settled_from", MAX_INT)

        def read() -> dict:
            st = TxState(BlockState(node.db))
            nxt = st.get(sys_anchor.ANCHOR, packets.send_next_key(dst)) or 1
            out = []
            seq = start
            # acknowledged packets are deleted: scanning from 1 on a busy channel would read
            # every sequence ever sent, so one request scans at most MAX_SCAN of them and says
            # where to continue (`next_from`)
            for seq in range(start, min(nxt, start + MAX_SCAN)):
                if len(out) >= limit:
                    break
                w = st.get(sys_anchor.ANCHOR, packets.packet_key(dst, seq))
                if w is None:
                    continue
                settled = bool(st.get(sys_anchor.ANCHOR, packets.settled_key(dst, seq)))
                if not settled or seq >= settled_from:
                    out.append({"sequence": seq, "packet_hex": codec.encode(w).hex(),
                                "timeout_height": w[7], "settled": settled})
            else:
                seq = min(nxt, start + MAX_SCAN)
            return {"dst_chain": dst, "next_sequence": nxt, "next_from": seq,
                    "height": node.chain.head.height, "packets": out}
        return await run(read)

    r = app.router
    r.add_get("/anchor/clients", clients)
    r.add_get("/anchor/clients/{chain_id}", client)
    r.add_get("/anchor/header/{height}", header)
    r.add_get("/anchor/proof/state", state_proof)
    r.add_get("/anchor/proof/receipt/{tx_hash}", receipt_proof)
    r.add_get("/anchor/packets/{dst_chain}", pending)


def openapi_paths() -> dict:
    """The OpenAPI entries of these routes (merged into chainnode.rpc.openapi)."""
    from chainnode.rpc.openapi import op, param

    obj = {"type": "object"}
    text = {"type": "string"}
    integer = {"type": "integer"}

    def get(summary: str, params: list | None = None, errors: tuple[int, ...] = (400,),
            ok: dict = obj) -> dict:
        return {"get": op(summary, {"200": ok}, params=params, errors=errors)}

    chain = param("chain_id", "path", "the other chain's id", text)
    return {
        "/anchor/clients": get("Light clients of other chains kept here", errors=(),
                               ok={"type": "array", "items": obj}),
        "/anchor/clients/{chain_id}": get("One light client: status, heights, evidence",
                                          [chain], (400, 404)),
        "/anchor/header/{height}": get("Certified header (codec hex) for relaying", [
            param("height", "path", "block height", integer)], (400, 404)),
        "/anchor/proof/state": get("SMT proof of a state key at a height", [
            param("contract", "query", "contract name", text, True),
            param("key_hex", "query", "codec-encoded key, hex", text, True),
            param("height", "query", "block height (default: head)", integer)],
            (400, 404, 410)),
        "/anchor/proof/receipt/{tx_hash}": get("Receipt bytes and Merkle path of a tx", [
            param("tx_hash", "path", "transaction hash, hex", text)], (400, 404)),
        "/anchor/packets/{dst_chain}": get("Packets sent to dst_chain awaiting an ack", [
            param("dst_chain", "path", "destination chain id", text),
            param("from", "query", "first sequence (default 1)", integer),
            param("limit", "query", "at most this many (1..100)", integer)]),
    }
