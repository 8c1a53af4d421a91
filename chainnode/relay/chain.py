"""One chain as the relayer reads and writes it, over the node's HTTP API (chainnode.client).

Reads are ordered so each observation is consistent: the received sequence is read before
the pending packets, and the height reported with the packets (the later read) is the one the
planner relies on, so any commitment or acknowledgement it saw exists at that height.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chainnode import codec
from chainnode.anchor import packets as pk
from chainnode.client import Client, RpcError
from chainnode.core.tx import Transaction
from chainnode.relay.planner import ChainView, ClientView, PendingPacket

ANCHOR = "sys.anchor"
PENDING_PAGE = 100  # the RPC's cap per request
SCAN_PAGES = 50  # requests per observation while paging past settled packets (next_from)
PROOF_THREADS = 4


def _client_view(doc: dict) -> ClientView:
    return ClientView(doc["chain_id"], doc["status"], doc["latest_height"],
                      doc["latest_time_ms"], doc["updated_at_ms"],
                      doc["params"]["trusting_period_ms"])


class RelayChain:
    """A chain reached through one or more of its nodes (each Client carries the relayer's
    key). Reads go to the first node that answers.

    Ordered delivery needs the proposer to see a batch in submission order, but a node admits
    forwarded transactions concurrently, so their order can change on the way. Given every
    validator's URL, the relayer hands each transaction to every node before the next one, so
    each pool (the proposer's included) holds them in order; with one URL it still works, but a
    reordered batch costs ANCHOR_OUT_OF_ORDER receipts that the next round repairs."""

    def __init__(self, clients: list[Client], gas_limit: int = 20_000_000) -> None:
        self.clients = clients
        self.client = clients[0]
        self.gas_limit = gas_limit
        self.chain_id = self._first(lambda c: c.chain_id)
        for c in clients:
            c._chain_id = self.chain_id
        self.pool = ThreadPoolExecutor(max(len(clients), PROOF_THREADS),
                                       thread_name_prefix=f"relay-{self.chain_id}")

    def map(self, fn, items: list) -> list:
        """fn over items on a few threads (HTTP reads of proofs); results or exceptions, in
        order."""
        def safe(x):
            try:
                return fn(x)
            except Exception as exc:  # noqa: BLE001 - handed back to the caller to raise
                return exc
        return list(self.pool.map(safe, items))

    def _first(self, fn):
        err: BaseException | None = None
        for i, c in enumerate(self.clients):
            try:
                out = fn(c)
            except OSError as exc:
                err = exc
                continue
            if i:  # prefer the node that answered from now on
                self.clients.insert(0, self.clients.pop(i))
                self.client = c
            return out
        assert err is not None
        raise err

    # -- reads
    def get(self, path: str) -> Any:
        return self._first(lambda c: c.get(path))

    def state_value(self, key: list) -> tuple[Any, int]:
        doc = self.get(f"/state/{ANCHOR}/_?key_hex={codec.encode(key).hex()}")
        value = codec.decode(bytes.fromhex(doc["value_hex"])) if doc.get("exists") else None
        return value, doc["height"]

    def client_of(self, peer: str) -> ClientView | None:
        try:
            return _client_view(self.get(f"/anchor/clients/{peer}"))
        except RpcError as exc:
            if exc.status == 404:
                return None
            raise

    def header(self, height: int) -> dict:
        return self.get(f"/anchor/header/{height}")

    def recv_next(self, peer: str) -> int:
        """The next sequence this chain expects from `peer`."""
        return self.state_value(pk.recv_next_key(peer))[0] or 1

    def observe(self, peer: str, settled_from: int | None = None) -> ChainView:
        """This chain with respect to `peer`; packets proven timed out (settled) are listed
        from `settled_from` on (the peer's next expected sequence: it must still take them)."""
        c = self.client_of(peer)
        recv_next = self.recv_next(peer)
        doc = self._pending_page(peer, settled_from)
        pending = tuple(PendingPacket(p["sequence"], codec.decode(bytes.fromhex(p["packet_hex"])),
                                      p["timeout_height"], bool(p.get("settled")))
                        for p in doc["packets"])
        height = doc["height"]
        time_ms = self.header(height)["header"]["timestamp_ms"] if height > 0 else 0
        return ChainView(self.chain_id, height, time_ms, c, recv_next, pending)

    def _pending_page(self, peer: str, settled_from: int | None = None) -> dict:
        """The first page of pending packets to `peer`. The RPC looks at a bounded number of
        sequences per request and says where to go on (`next_from`): page past settled ones
        (at most SCAN_PAGES requests a round; the next round starts over)."""
        start, doc = 1, {}
        for _ in range(SCAN_PAGES):
            extra = "" if settled_from is None else f"&settled_from={settled_from}"
            doc = self.get(f"/anchor/packets/{peer}?from={start}&limit={PENDING_PAGE}{extra}")
            end = doc.get("next_from", doc["next_sequence"])
            if doc["packets"] or end >= doc["next_sequence"] or end <= start:
                break
            start = end
        return doc

    def proof(self, key: list, height: int, exists: bool = True) -> bytes:
        """Proof that `key` is (or, exists=False, is not) in state at `height`; LookupError
        when state says otherwise."""
        doc = self.get(f"/anchor/proof/state?contract={ANCHOR}"
                              f"&key_hex={codec.encode(key).hex()}&height={height}")
        if bool(doc["exists"]) != exists:
            raise LookupError(f"{key} {'not ' if exists else ''}in {self.chain_id}'s state at "
                              f"height {height}")
        return bytes.fromhex(doc["proof_hex"])

    # -- writes
    def tx(self, method: str, args: dict, height: int) -> Transaction:
        return self.client.build("system", ANCHOR, method, args, gas_limit=self.gas_limit,
                                 expires_in=100, height=height)

    def submit_in_order(self, txs: list[Transaction], timeout: float) -> list[dict]:
        """Submit one by one (the entry node's pool keeps their order), then wait for every
        one to commit; returns each receipt (or {"status": "pending"} at the deadline)."""
        def hand(c: Client, tx: Transaction) -> bool:
            try:
                c.submit(tx, wait=False)
                return True
            except RpcError as exc:
                return exc.code == "TX_DUPLICATE"  # a forwarded copy got there first
            except OSError:
                return False  # that node is down; the others carry the transaction

        for tx in txs:  # to every node at once, but tx k everywhere before tx k+1 anywhere
            admitted = sum(self.pool.map(lambda c, tx=tx: hand(c, tx), list(self.clients)))
            if not admitted:
                raise ConnectionError(f"no node of {self.chain_id} admitted {tx.hash.hex()}")
        deadline = time.monotonic() + timeout
        out: list[dict] = []
        for tx in txs:
            h = tx.hash.hex()
            while True:
                try:
                    doc = self._first(lambda c, h=h: c.tx(h))
                except RpcError as exc:  # evicted (expired) or not yet forwarded
                    if exc.status != 404:
                        raise
                    doc = {"status": "unknown"}
                if doc.get("status") == "committed" or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            out.append(doc.get("receipt") or {"status": doc.get("status", "pending")})
        return out
