"""One chain as the relayer reads and writes it, over the node's HTTP API (chainnode.client).

Reads are ordered so each observation is consistent: the received sequence is read before
the pending packets, and the height reported with the packets (the later read) is the one the
planner relies on, so any commitment or acknowledgement it saw exists at that height.
"""

from __future__ import annotations

import time
from typing import Any

from chainnode import codec
from chainnode.anchor import packets as pk
from chainnode.client import Client, RpcError
from chainnode.core.tx import Transaction
from chainnode.relay.planner import ChainView, ClientView, PendingPacket

ANCHOR = "sys.anchor"
PENDING_PAGE = 100  # the RPC's cap per request


def _client_view(doc: dict) -> ClientView:
    return ClientView(doc["chain_id"], doc["status"], doc["latest_height"],
                      doc["latest_time_ms"], doc["updated_at_ms"],
                      doc["params"]["trusting_period_ms"])


class RelayChain:
    """A chain and the peer it relays with; `client` carries the relayer's key."""

    def __init__(self, client: Client, gas_limit: int = 20_000_000) -> None:
        self.client = client
        self.gas_limit = gas_limit
        self.chain_id = client.chain_id

    # -- reads
    def state_value(self, key: list) -> tuple[Any, int]:
        doc = self.client.get(f"/state/{ANCHOR}/_?key_hex={codec.encode(key).hex()}")
        value = codec.decode(bytes.fromhex(doc["value_hex"])) if doc.get("exists") else None
        return value, doc["height"]

    def client_of(self, peer: str) -> ClientView | None:
        try:
            return _client_view(self.client.get(f"/anchor/clients/{peer}"))
        except RpcError as exc:
            if exc.status == 404:
                return None
            raise

    def header(self, height: int) -> dict:
        return self.client.get(f"/anchor/header/{height}")

    def observe(self, peer: str) -> ChainView:
        c = self.client_of(peer)
        recv_next, _ = self.state_value(pk.recv_next_key(peer))
        doc = self.client.get(f"/anchor/packets/{peer}?from=1&limit={PENDING_PAGE}")
        pending = tuple(PendingPacket(p["sequence"], codec.decode(bytes.fromhex(p["packet_hex"])),
                                      p["timeout_height"]) for p in doc["packets"])
        height = doc["height"]
        time_ms = self.header(height)["header"]["timestamp_ms"] if height > 0 else 0
        return ChainView(self.chain_id, height, time_ms, c, recv_next or 1, pending)

    def proof(self, key: list, height: int) -> bytes:
        doc = self.client.get(f"/anchor/proof/state?contract={ANCHOR}"
                              f"&key_hex={codec.encode(key).hex()}&height={height}")
        if not doc["exists"]:
            raise LookupError(f"{key} not in {self.chain_id}'s state at height {height}")
        return bytes.fromhex(doc["proof_hex"])

    # -- writes
    def tx(self, method: str, args: dict, height: int) -> Transaction:
        return self.client.build("system", ANCHOR, method, args, gas_limit=self.gas_limit,
                                 expires_in=100, height=height)

    def submit_in_order(self, txs: list[Transaction], timeout: float) -> list[dict]:
        """Submit one by one (the entry node's pool keeps their order), then wait for every
        one to commit; returns each receipt (or {"status": "pending"} at the deadline)."""
        for tx in txs:
            self.client.submit(tx, wait=False)
        deadline = time.monotonic() + timeout
        out: list[dict] = []
        for tx in txs:
            while True:
                try:
                    doc = self.client.tx(tx.hash.hex())
                except RpcError as exc:  # evicted (expired) or not yet forwarded
                    if exc.status != 404:
                        raise
                    doc = {"status": "unknown"}
                if doc.get("status") == "committed" or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            out.append(doc.get("receipt") or {"status": doc.get("status", "pending")})
        return out
