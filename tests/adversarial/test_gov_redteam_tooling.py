"""Red team, governance: an in-range parameter change must not lock the committee's own tools out.

`chainnode gov propose|vote|tally` and `chainnode node ready` send their transactions through
`Client.call`, which signed every transaction with gas_limit 5,000,000 and expires_at
head + 500. Governance may lower `tx_gas_limit` to 100,000 and `max_expiry_window` to 10
(both in range, both reasonable for a production chain). Mempool admission then refused every
such transaction (TX_GAS_LIMIT / TX_EXPIRY_TOO_FAR), and the gov CLI has no flag to change
either value: the committee could no longer vote (not even to undo the change) with the tools
the runbooks give it. Fixed: `Client.call` refits a refused transaction to the chain's live
limits (read from /governance) and sends it once more.

The node side here is a loopback HTTP stand-in over a real chain (LevelDB, SM2): /status,
/governance params, and POST /tx running the real mempool admission check, then committing.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gov_redteam_util import decide_param as decide  # noqa: E402
from gov_redteam_util import live_mempool  # noqa: E402
from gov_util import GOVS, Bench  # noqa: E402

from chainnode.client import Client  # noqa: E402
from chainnode.core.tx import Transaction  # noqa: E402
from chainnode.errors import ChainError  # noqa: E402

GOV = "sys.governance"


class StandIn:
    """Just the routes Client.call uses, answered from a Bench chain."""

    def __init__(self, bench: Bench) -> None:
        self.b = bench
        self.refused: list[str] = []
        self.pool = ThreadPoolExecutor(1)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:
                pass

            def _send(self, code: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with outer.lock:
                    ch = outer.b.chain
                    if self.path == "/status":
                        return self._send(200, {"chain_id": ch.genesis.chain_id,
                                                "height": ch.head.height})
                    if self.path == "/governance":
                        return self._send(200, {"params": dict(ch.params)})
                self._send(404, {"error": {"code": "NOT_FOUND", "message": self.path}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    code, doc = outer.submit(Transaction.decode(raw))
                self._send(code, doc)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def submit(self, tx: Transaction) -> tuple[int, dict]:
        pool = live_mempool(self.b, self.pool)
        try:
            pool.precheck(tx)
        except ChainError as exc:
            self.refused.append(exc.code)
            return 400, {"error": {"code": exc.code, "message": exc.message}}
        rc = self.b.block(tx).outcome.receipts[0]
        return 200, {"receipt": {"status": "ok" if rc.ok else "failed",
                                 "error_code": rc.error_code, "value": rc.value}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.pool.shutdown()


@pytest.fixture
def node(tmp_path):
    b = Bench(tmp_path / "db")
    s = StandIn(b)
    yield s
    s.close()
    b.close()



def test_committee_still_governs_with_its_cli_after_lowering_gas_and_expiry(node):
    b = node.b
    decide(b, "delivery_gas", 500_000)  # the rail: <= tx_gas_limit - 250,000
    decide(b, "tx_gas_limit", 1_000_000)  # in range, 5x below what the tools sent
    decide(b, "max_expiry_window", 100)
    # exactly what `chainnode gov propose` / `gov vote` send
    res = Client(node.url, GOVS[0]).call(GOV, "propose", {
        "kind": "set-param", "payload": {"name": "max_expiry_window", "value": 1000}})
    assert res["receipt"]["status"] == "ok", (res, node.refused)
    pid = res["receipt"]["value"]["id"]
    for k in GOVS[1:3]:
        assert Client(node.url, k).call(GOV, "vote", {"id": pid, "choice": "yes"})[
            "receipt"]["status"] == "ok"
    assert b.chain.param("max_expiry_window") == 1000  # the committee undid its own change
    assert set(node.refused) <= {"TX_GAS_LIMIT", "TX_EXPIRY_TOO_FAR"}
