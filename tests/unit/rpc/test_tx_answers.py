"""POST /tx and POST /txs answer byte for byte as json_response would, on every path.

The hot routes build their answers without json_response, the timeout without
asyncio.wait_for and the latency metric without prometheus' locks; these tests pin what a
client sees (status, Content-Type, the exact body, the metric lines) so a fast path can never
drift from the answers the rest of the API gives.
"""

from __future__ import annotations

import asyncio
import json
import types

import aiohttp
import pytest
from aiohttp import web

from chainnode import codec
from chainnode.core.block import Receipt
from chainnode.core.tx import build_tx
from chainnode.crypto.sm2 import PrivateKey
from chainnode.errors import ChainError
from chainnode.hub import CommitHub
from chainnode.metrics import NodeMetrics
from chainnode.rpc.server import RpcServer

JSON_TYPE = "application/json; charset=utf-8"
KEY = PrivateKey.generate()


def make_tx(**args):
    return build_tx(KEY, "test-chain", "system", "sys.members", "register",
                    {"address": "ab" * 20, "roles": ["member"], **args}, expires_at=10**9)


def receipt_for(tx) -> Receipt:
    """A receipt with every kind of JSON value: bytes, non-ASCII text, nesting, a failure."""
    if tx.args.get("fail"):
        return Receipt(tx.hash, Receipt.FAILED, 17, None, (), "NO_METHOD",
                       "kein Vertrag \u00e9\u4e2d \"quoted\"\n")
    return Receipt(tx.hash, Receipt.OK, 1234, {"k": [b"\x00\xff", "\u00e9", 2**70, True]},
                   (("sys.members", "MemberRegistered",
                     {"address": tx.args["address"], "roles": ["member"], "raw": b"\x01"}),
                    ("c", "E\u4e2d", {})))


class StubNode:
    """Admits at once; commits on the next loop iteration unless told to hold or refuse."""

    def __init__(self) -> None:
        self.genesis = types.SimpleNamespace(param=lambda name: 64 * 1024)
        self.hub = CommitHub()
        self.metrics = NodeMetrics()
        self.stopping = False
        self.height = 0
        self.hold: set[bytes] = set()
        self.refuse: dict[bytes, Exception] = {}
        self.mempool: set[bytes] = set()

    async def submit(self, tx, source=None):
        if tx.hash in self.refuse:
            raise self.refuse[tx.hash]
        if tx.hash not in self.hold:
            asyncio.get_running_loop().call_soon(self.commit, [tx])
        return tx

    def commit(self, txs) -> None:
        self.height += 1
        block = types.SimpleNamespace(height=self.height, txs=txs)
        self.hub.committed(block, tuple(receipt_for(tx) for tx in txs))


@pytest.fixture
async def rpc():
    node = StubNode()
    srv = RpcServer(node)
    await srv.start("127.0.0.1", 0)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{srv.port}") as session:
        yield node, session
    await srv.stop()


async def post(session, path: str, body: bytes, ctype: str = "application/msgpack"):
    async with session.post(path, data=body, headers={"Content-Type": ctype}) as resp:
        return resp.status, resp.headers.get("Content-Type"), await resp.read()


def dumped(doc) -> bytes:
    """What web.json_response sends for `doc`."""
    return json.dumps(doc).encode()


def committed_doc(tx, height: int) -> dict:
    return {"hash": tx.hash.hex(), "status": "committed", "height": height,
            "receipt": receipt_for(tx).to_json()}


def error_body(code: str, message: str) -> bytes:
    return dumped({"error": {"code": code, "message": message}})


@pytest.mark.parametrize("fail", [False, True])
async def test_committed_answer_is_json_response_bytes(rpc, fail):
    node, session = rpc
    tx = make_tx(fail=fail) if fail else make_tx()
    status, ctype, body = await post(session, "/tx?wait=commit", tx.encode())
    assert (status, ctype) == (200, JSON_TYPE)
    assert body == dumped(committed_doc(tx, node.height))
    assert node.hub.pending() == 0


async def test_committed_answer_to_a_json_body(rpc):
    node, session = rpc
    tx = make_tx(n=1)
    status, ctype, body = await post(session, "/tx?wait=commit&timeout=5",
                                     json.dumps({"tx": tx.encode().hex()}).encode(),
                                     "application/json")
    assert (status, ctype) == (200, JSON_TYPE)
    assert body == dumped(committed_doc(tx, node.height))


async def test_no_wait_is_pending(rpc):
    node, session = rpc
    tx = make_tx(n=2)
    node.hold.add(tx.hash)
    status, ctype, body = await post(session, "/tx", tx.encode())
    assert (status, ctype) == (202, "application/json")
    assert body == dumped({"hash": tx.hash.hex(), "status": "pending"})
    assert node.hub.pending() == 0


async def test_timeout_answer_and_waiter_dropped(rpc):
    node, session = rpc
    tx = make_tx(n=3)
    node.hold.add(tx.hash)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    status, ctype, body = await post(session, "/tx?wait=commit&timeout=0.2", tx.encode())
    assert loop.time() - t0 >= 0.2  # never answered early
    assert (status, ctype) == (504, JSON_TYPE)
    assert body == error_body("TIMEOUT", "not committed within 0.2 s; poll GET /tx/{hash}")
    assert node.hub.pending() == 0


async def test_commit_after_a_timeout_is_harmless(rpc):
    node, session = rpc
    tx = make_tx(n=4)
    node.hold.add(tx.hash)
    status, _, _ = await post(session, "/tx?wait=commit&timeout=0.05", tx.encode())
    assert status == 504
    node.commit([tx])  # nobody waits any more
    node.hold.clear()
    tx2 = make_tx(n=5)
    status, _, body = await post(session, "/tx?wait=commit", tx2.encode())
    assert status == 200 and body == dumped(committed_doc(tx2, node.height))


async def test_hub_closing_answers_waiters_unavailable(rpc):
    node, session = rpc
    tx = make_tx(n=6)
    node.hold.add(tx.hash)
    req = asyncio.ensure_future(post(session, "/tx?wait=commit", tx.encode()))
    while node.hub.pending() == 0:
        await asyncio.sleep(0.01)
    assert node.hub.close("node stopping") == 1
    status, ctype, body = await req
    assert (status, ctype) == (503, JSON_TYPE)
    assert body == error_body("UNAVAILABLE", "node stopping")


@pytest.mark.parametrize("refusal,status", [
    (ChainError("TX_REPLAY", "nonce used"), 409),
    (ChainError("MEMPOOL_FULL", "full"), 429),
])
async def test_refused_admission_keeps_its_code_and_drops_the_waiter(rpc, refusal, status):
    node, session = rpc
    tx = make_tx(n=7)
    node.refuse[tx.hash] = refusal
    got, ctype, body = await post(session, "/tx?wait=commit", tx.encode())
    assert (got, ctype) == (status, JSON_TYPE)
    assert body == error_body(refusal.code, refusal.message)
    assert node.hub.pending() == 0


async def test_internal_fault_is_a_500(rpc):
    node, session = rpc
    tx = make_tx(n=8)
    node.refuse[tx.hash] = RuntimeError("bug")
    status, ctype, body = await post(session, "/tx?wait=commit", tx.encode())
    assert (status, ctype) == (500, JSON_TYPE)
    assert body == error_body("INTERNAL", "internal error; see the node log")


async def test_stopping_node_is_unavailable(rpc):
    node, session = rpc
    node.stopping = True
    status, ctype, body = await post(session, "/tx?wait=commit", make_tx(n=9).encode())
    assert (status, ctype) == (503, JSON_TYPE)
    assert body == error_body("UNAVAILABLE", "node stopping")


@pytest.mark.parametrize("path,body,ctype,status,code,message", [
    ("/tx?wait=commit", b"\xc1junk", "application/msgpack", 400, "TX_MALFORMED", None),
    ("/tx?wait=commit", b"{}", "text/plain", 415, "BAD_REQUEST",
     "/tx takes application/json or application/msgpack or application/octet-stream, "
     "not text/plain"),
    ("/tx", b'{"tx": "zz"}', "application/json", 400, "TX_MALFORMED",
     'JSON body must be {"tx": "<hex of the msgpack-encoded transaction>"}'),
    ("/tx", b'{"tx": 1}', "application/json", 400, "TX_MALFORMED",
     "field 'tx' must be a string"),
    ("/tx?wait=commit&timeout=abc", None, "application/msgpack", 400, "BAD_REQUEST",
     "timeout must be a number of seconds"),
    ("/tx?wait=commit&timeout=-1", None, "application/msgpack", 400, "BAD_REQUEST",
     "timeout must be a positive number of seconds"),
    ("/txs?wait=commit", b"\x90", "application/msgpack", 400, "BAD_REQUEST",
     "a batch holds 1 to 1000 transactions"),
    ("/txs", b"\x01", "application/msgpack", 400, "TX_MALFORMED",
     "batch body must be a list of encoded transactions"),
    ("/nowhere", b"", "application/msgpack", 404, "NOT_FOUND", "no route POST /nowhere"),
])
async def test_error_answers(rpc, path, body, ctype, status, code, message):
    node, session = rpc
    got, got_type, raw = await post(session, path, make_tx(n=10).encode() if body is None
                                    else body, ctype)
    assert (got, got_type) == (status, JSON_TYPE)
    doc = json.loads(raw)
    assert doc["error"]["code"] == code
    if message is not None:
        assert raw == error_body(code, message)
    assert node.hub.pending() == 0


async def test_wrong_method_is_405_with_allow(rpc):
    _, session = rpc
    async with session.get("/txs") as resp:
        assert (resp.status, resp.headers["Content-Type"]) == (405, JSON_TYPE)
        assert resp.headers["Allow"] == "POST"
        assert await resp.read() == error_body("BAD_REQUEST", "method GET not allowed here")


async def test_batch_answer_mixes_committed_pending_and_errors(rpc):
    node, session = rpc
    ok, fail, held, refused = make_tx(n=11), make_tx(fail=True), make_tx(n=12), make_tx(n=13)
    node.hold.add(held.hash)
    node.refuse[refused.hash] = ChainError("TX_REPLAY", "nonce used")
    items = [ok.encode(), b"\xc1", fail.encode(), held.encode(), refused.encode()]
    status, ctype, body = await post(session, "/txs?wait=commit&timeout=0.2",
                                     codec.encode(items))
    assert (status, ctype) == (200, JSON_TYPE)
    doc = json.loads(body)
    heights = {r["hash"]: r.get("height") for r in doc["results"] if "height" in r}
    expect = {"accepted": 3, "rejected": 2, "results": [
        committed_doc(ok, heights[ok.hash.hex()]),
        {"error": doc["results"][1]["error"]},
        committed_doc(fail, heights[fail.hash.hex()]),
        {"hash": held.hash.hex(), "status": "pending",
         "error": {"code": "TIMEOUT", "message": "not committed within 0.2 s"}},
        {"error": {"code": "TX_REPLAY", "message": "nonce used"}},
    ]}
    assert body == dumped(expect)
    assert doc["results"][1]["error"]["code"] == "TX_MALFORMED"
    assert node.hub.pending() == 0


async def test_batch_without_wait_is_all_pending(rpc):
    node, session = rpc
    txs = [make_tx(n=20 + i) for i in range(3)]
    node.hold.update(tx.hash for tx in txs)
    status, ctype, body = await post(session, "/txs", codec.encode([t.encode() for t in txs]))
    assert (status, ctype) == (200, JSON_TYPE)
    assert body == dumped({"accepted": 3, "rejected": 0, "results": [
        {"hash": t.hash.hex(), "status": "pending"} for t in txs]})


async def test_latency_metric_counts_each_request_by_route(rpc):
    node, session = rpc
    for i in range(3):
        await post(session, "/tx?wait=commit", make_tx(n=30 + i).encode())
    await post(session, "/tx", b"\xc1")
    await post(session, "/nowhere", b"")
    async with session.get("/metrics") as resp:
        text = (await resp.read()).decode()
    lines = text.splitlines()
    assert 'chainnode_rpc_request_seconds_count{method="POST",route="/tx"} 4.0' in lines
    assert 'chainnode_rpc_request_seconds_count{method="POST",route="unmatched"} 1.0' in lines
    assert 'chainnode_rpc_request_seconds_bucket{le="+Inf",method="POST",route="/tx"} 4.0' \
        in lines
    assert 'chainnode_tx_stage_seconds_count{stage="decode"} 3.0' in lines


def test_json_response_is_what_the_pins_assume():
    """The expected bytes above are json.dumps with its defaults, sent as UTF-8 JSON."""
    resp = web.json_response({"a": "\u00e9"})
    assert resp.body == dumped({"a": "\u00e9"})
    assert resp.content_type == "application/json" and resp.charset == "utf-8"
