"""Red team of the hot RPC answers written from templates and pieces (POST /tx, POST /txs) and
of the per-request latency series: a contract author controls a receipt's value, events and
error message, a client controls refusal messages (they quote its input), the query string
and the HTTP method. Every answer must be the bytes json.dumps gives for the same document,
and nothing a client sends may grow the node's memory without bound."""

from __future__ import annotations

import json

from chainnode import codec
from chainnode.core.block import Receipt
from chainnode.errors import ChainError
from chainnode.metrics import NodeMetrics
from chainnode.rpc import answers
from chainnode.rpc import server as server_module
from tests.unit.rpc import test_tx_answers as harness
from tests.unit.rpc.test_tx_answers import make_tx, post, rpc  # noqa: F401 - rpc: a fixture

HOSTILE = [
    "", '"', "\\", '\\"', "\"}]}, {\"hash\": \"x", "".join(map(chr, range(0x20))), "\x7f",
    "é中", "\U0001f600", "\ud800", "\udfff\ud800", "%s %d %% %(x)s {0} {}", "\u2028\u2029",
    "</script>", "a" * 5000,
]


class _Str(str):
    pass


class _Int(int):
    pass


def _want(tx_hash: bytes, height: int, rc: Receipt) -> str:
    return json.dumps({"hash": tx_hash.hex(), "status": "committed", "height": height,
                       "receipt": rc.to_json()})


def test_committed_text_escapes_every_hostile_string_as_json_dumps():
    h = bytes(range(32))
    for s in HOSTILE:
        for rc in (
            Receipt(h, Receipt.FAILED, 5, None, (), s, s),
            Receipt(h, Receipt.OK, 0, s, ((s, s, {s: [s, b"\x00", s]}),), "", ""),
            Receipt(h, Receipt.OK, 7, {"v": [s, {s: s}]}, (("c", "n", {}), (s, "", {"": s})),
                    "", ""),
            Receipt(h, Receipt.FAILED, _Int(3), _Str(s), ((_Str(s), _Str("n"), {}),),
                    _Str("CODE"), _Str(s)),
            Receipt(h, Receipt.OK, True, False, (), "", ""),
            Receipt(h, Receipt.OK, 2**64, 2**200, (), "", ""),
        ):
            for height in (0, 1, 2**63, _Int(9)):
                assert answers.committed_text(h, height, rc) == _want(h, height, rc), (s, rc)


async def test_batch_answer_is_json_dumps_for_hostile_refusals_and_receipts(rpc, monkeypatch):  # noqa: F811
    node, session = rpc
    messages = {}

    def receipt_for(tx) -> Receipt:
        m = messages[tx.hash]
        return Receipt(tx.hash, Receipt.FAILED, 17, m, ((m, m, {m: b"\x01"}),), "C", m)

    monkeypatch.setattr(harness, "receipt_for", receipt_for)
    txs, want = [], []
    for i, m in enumerate(HOSTILE):
        refused, committed = make_tx(n=7000 + 2 * i), make_tx(n=7001 + 2 * i)
        node.refuse[refused.hash] = ChainError("TX_MALFORMED", m)
        messages[committed.hash] = m
        txs += [refused, committed]
        want.append({"error": {"code": "TX_MALFORMED", "message": m}})
        want.append(None)  # committed: filled in once the height is known
    held = make_tx(n=6999)
    node.hold.add(held.hash)
    txs.append(held)
    status, _, got = await post(session, "/txs?wait=commit&timeout=0.5",
                                codec.encode([tx.encode() for tx in txs]))
    assert status == 200
    doc = json.loads(got)
    for i, tx in enumerate(txs[:-1]):
        if want[i] is None:
            want[i] = json.loads(_want(tx.hash, doc["results"][i]["height"],
                                       receipt_for(tx)))
    want.append({"hash": held.hash.hex(), "status": "pending",
                 "error": {"code": "TIMEOUT", "message": "not committed within 0.5 s"}})
    accepted = len(HOSTILE) + 1
    assert got == json.dumps({"accepted": accepted, "rejected": len(txs) - accepted,
                              "results": want}).encode()


def test_the_query_memo_keeps_spellings_apart_and_stays_bounded():
    """Each raw query string gets what parsing it anew gives; a flood of distinct ones keeps
    the memo at its cap."""
    from aiohttp.test_utils import make_mocked_request

    def fresh(q: str):
        try:
            req = make_mocked_request("POST", "/tx?" + q)
            wait = req.query.get("wait") == "commit"
            return (wait, server_module._timeout_arg(req.query.get("timeout", "30"))
                    if wait else 0.0)
        except ChainError as exc:
            return exc.code

    def memo(q: str):
        try:
            return server_module._wait_args(make_mocked_request("POST", "/tx?" + q))
        except ChainError as exc:
            return exc.code

    server_module._WAIT_ARGS.clear()
    spellings = ["wait=commit&timeout=1", "timeout=1&wait=commit", "wait=commit&timeout=1.0",
                 "wait=commit&timeout=01", "wait=Commit&timeout=1", "wait=commit+&timeout=1",
                 "wait=commi%74&timeout=1", "wait=commit&timeout=1&timeout=2",
                 "wait=x&wait=commit&timeout=1", "wait=commit&wait=x&timeout=9",
                 "wait=commit&timeout=abc", "wait=commit&timeout=nan", "wait=commit&timeout=0",
                 "wait=commit", "wait=commit&timeout=1e9", "wait%3Dcommit", "", "timeout=5"]
    for _ in range(2):  # second round: answered from the memo (errors are never kept)
        for q in spellings:
            assert memo(q) == fresh(q), q
    for i in range(3 * server_module.MAX_WAIT_ARGS):
        memo(f"wait=commit&timeout={i + 1}")
    assert len(server_module._WAIT_ARGS) <= server_module.MAX_WAIT_ARGS
    for q in spellings:
        assert memo(q) == fresh(q), q
    server_module._WAIT_ARGS.clear()


def test_hostile_http_methods_cannot_grow_the_latency_series():
    """aiohttp's pure-Python HTTP parser (used where its C parser is missing, or with
    AIOHTTP_NO_EXTENSIONS) accepts any token as a method, and requests no route matches are
    timed under their method: one series (and its 16 buckets) per distinct method a client
    makes up would grow memory and every /metrics scrape without bound."""
    m = NodeMetrics()
    for i in range(5000):
        child = m.rpc_child("unmatched", f"X{i}")
        assert child is not None
        child.observe(0.001)
    assert len(m.rpc._children) == 1  # all of them: ("unmatched", "other")
    assert len(m.render()) < 64 * 1024
    # the real methods keep series of their own
    m.rpc_child("/tx", "POST").observe(0.01)
    m.rpc_child("unmatched", "PATCH").observe(0.01)
    text = m.render().decode()
    assert 'count{method="POST",route="/tx"} 1.0' in text
    assert 'count{method="PATCH",route="unmatched"} 1.0' in text
    assert 'count{method="other",route="unmatched"} 5000.0' in text


async def test_the_lock_free_latency_series_is_written_and_scraped_on_the_loop_only(
        rpc, monkeypatch):  # noqa: F811
    """LoopChild takes no lock because its one writer is the event-loop thread, and /metrics
    renders on that thread too: a scrape can never see half an observation. Pinned here, so
    moving either off the loop (a handler in an executor, a scrape thread) fails."""
    import threading

    from chainnode.metrics_stage import LoopChild

    node, session = rpc
    loop_thread = threading.get_ident()
    writers, readers = set(), set()
    observe, snapshot = LoopChild.observe, LoopChild.snapshot

    def spy_observe(self, amount):
        writers.add(threading.get_ident())
        observe(self, amount)

    def spy_snapshot(self):
        readers.add(threading.get_ident())
        return snapshot(self)

    monkeypatch.setattr(LoopChild, "observe", spy_observe)
    monkeypatch.setattr(LoopChild, "snapshot", spy_snapshot)
    await post(session, "/tx?wait=commit", make_tx(n=8000).encode())
    await post(session, "/nowhere", b"")
    for _ in range(3):
        async with session.get("/metrics") as resp:
            text = (await resp.read()).decode()
    assert writers == {loop_thread} and readers == {loop_thread}
    assert 'chainnode_rpc_request_seconds_count{method="POST",route="/tx"} 1.0' in text
