"""Acceptance: bad transactions are refused at the door with a 4xx, a stable code of their own
and a message; nothing is written; the node keeps serving and commits valid work afterwards."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import pytest
from integration_harness import http

from chainnode import codec
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PrivateKey


@dataclass
class Attempt:
    body: bytes
    status: int
    code: str
    tx_hash: bytes | None = None
    ctype: str = "application/msgpack"
    query: str = ""


def _register_args() -> dict:
    return {"address": secrets.token_hex(20), "roles": ["member"], "name": ""}


def _tx(net, key: PrivateKey | None = None, *, chain_id: str | None = None,
        expires_at: int | None = None, gas_limit: int = 100_000,
        args: dict | None = None) -> Transaction:
    head = net.status()["height"]
    return build_tx(key or net.admin_key, chain_id or net.chain_id, "system", "sys.members",
                    "register", args if args is not None else _register_args(),
                    expires_at=head + 100 if expires_at is None else expires_at,
                    gas_limit=gas_limit)


def _resigned(tx: Transaction, signature: bytes) -> Transaction:
    w = tx.to_wire()
    w[-1] = signature
    return Transaction.from_wire(w)


def garbage(net) -> Attempt:
    return Attempt(b"\xc1\x00 this is not msgpack \xff", 400, "TX_MALFORMED")


def not_a_transaction(net) -> Attempt:
    return Attempt(codec.encode(["chainnode", 1, 2, 3]), 400, "TX_MALFORMED")


def garbage_json(net) -> Attempt:
    return Attempt(b'{"tx": ', 400, "TX_MALFORMED", ctype="application/json")


def oversized_body(net) -> Attempt:
    limit = net.genesis.param("max_tx_bytes") * 2 + 1024  # well above max_tx_bytes
    return Attempt(secrets.token_bytes(limit + 4096), 413, "TX_TOO_LARGE")


def oversized_tx(net) -> Attempt:
    # a correctly signed transaction, above max_tx_bytes but within the HTTP body cap
    blob = b"x" * (net.genesis.param("max_tx_bytes") + 1000)
    tx = _tx(net, args={**_register_args(), "blob": blob})
    return Attempt(tx.encode(), 413, "TX_TOO_LARGE", tx.hash)


def wrong_chain(net) -> Attempt:
    tx = _tx(net, chain_id="some-other-chain")
    return Attempt(tx.encode(), 400, "TX_WRONG_CHAIN", tx.hash)


def bad_signature(net) -> Attempt:
    tx = _tx(net)
    sig = bytearray(tx.signature)
    sig[10] ^= 0x40
    bad = _resigned(tx, bytes(sig))
    return Attempt(bad.encode(), 401, "TX_BAD_SIGNATURE", bad.hash)


def signed_by_another_key(net) -> Attempt:
    # the admin's public key as sender, signed by someone else
    tx = _tx(net)
    sig = domain.sign(PrivateKey.generate(), "tx", net.chain_id, tx.body_bytes())
    bad = _resigned(tx, sig)
    return Attempt(bad.encode(), 401, "TX_BAD_SIGNATURE", bad.hash)


def expired(net) -> Attempt:
    tx = _tx(net, expires_at=net.status()["height"])
    return Attempt(tx.encode(), 400, "TX_EXPIRED", tx.hash)


def expiry_too_far(net) -> Attempt:
    tx = _tx(net, expires_at=net.status()["height"] + net.genesis.param("max_expiry_window") + 1)
    return Attempt(tx.encode(), 400, "TX_EXPIRY_TOO_FAR", tx.hash)


def gas_above_limit(net) -> Attempt:
    tx = _tx(net, gas_limit=net.genesis.param("tx_gas_limit") + 1)
    return Attempt(tx.encode(), 400, "TX_GAS_LIMIT", tx.hash)


def replay(net) -> Attempt:
    tx = _tx(net)
    res = net.client().submit(tx, wait=True)
    assert res["status"] == "committed" and res["receipt"]["status"] == "ok"
    return Attempt(tx.encode(), 409, "TX_REPLAY", tx.hash)


def non_member(net) -> Attempt:
    tx = _tx(net, PrivateKey.generate())
    return Attempt(tx.encode(), 403, "TX_NOT_MEMBER", tx.hash)


def bad_wait_timeout(net) -> Attempt:
    tx = _tx(net)
    return Attempt(tx.encode(), 400, "BAD_REQUEST", tx.hash, query="?wait=commit&timeout=abc")


CASES = [garbage, not_a_transaction, garbage_json, oversized_body, oversized_tx, wrong_chain,
         bad_signature, signed_by_another_key, expired, expiry_too_far, gas_above_limit, replay,
         non_member, bad_wait_timeout]

# the rejects the acceptance criteria name, each with its own code
REQUIRED = {garbage: "TX_MALFORMED", oversized_body: "TX_TOO_LARGE",
            wrong_chain: "TX_WRONG_CHAIN", bad_signature: "TX_BAD_SIGNATURE",
            expired: "TX_EXPIRED", replay: "TX_REPLAY", non_member: "TX_NOT_MEMBER"}


def test_required_rejects_have_distinct_codes():
    assert len(set(REQUIRED.values())) == len(REQUIRED)


def _snapshot(net) -> tuple:
    st = net.status()
    m = net.metrics()
    assert st["mempool"] == 0 and m["chainnode_mempool_size"] == 0
    return st["height"], st["head_hash"], st["state_root"], m["chainnode_txs_committed_total"]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__ for c in CASES])
def test_reject_is_4xx_with_its_code_writes_nothing_and_node_keeps_serving(shared_node, make):
    net = shared_node
    attempt = make(net)
    if make in REQUIRED:
        assert attempt.code == REQUIRED[make]
    before = _snapshot(net)
    replay_loc = None
    if attempt.tx_hash is not None and make is replay:
        replay_loc = net.client().tx(attempt.tx_hash.hex())["height"]

    status, body = net.http("POST", "/tx" + attempt.query, attempt.body, attempt.ctype)

    assert status == attempt.status, body
    assert 400 <= status < 500
    assert set(body) == {"error"}
    assert body["error"]["code"] == attempt.code
    assert isinstance(body["error"]["message"], str) and len(body["error"]["message"]) > 5
    # nothing was written and nothing is pending
    assert _snapshot(net) == before
    if attempt.tx_hash is not None:
        st, doc = net.http("GET", f"/tx/{attempt.tx_hash.hex()}")
        if make is replay:  # still exactly the one committed copy
            assert st == 200 and doc["status"] == "committed" and doc["height"] == replay_loc
        else:
            assert (st, doc["error"]["code"]) == (404, "NOT_FOUND")
    metrics = net.metrics()
    if attempt.code.startswith("TX_") and attempt.code not in ("TX_MALFORMED", "TX_TOO_LARGE"):
        assert metrics[f'chainnode_tx_rejected_total{{code="{attempt.code}"}}'] >= 1

    # the node keeps serving: a valid transaction commits right after
    res = net.client().submit(_tx(net), wait=True)
    assert res["status"] == "committed" and res["receipt"]["status"] == "ok"
    assert res["height"] == before[0] + 1
    assert net.status()["mempool"] == 0


def test_valid_tx_as_json_body_commits(shared_node):
    net = shared_node
    tx = _tx(net)
    status, body = net.http("POST", "/tx?wait=commit&timeout=20",
                            json.dumps({"tx": tx.encode().hex()}).encode(), "application/json")
    assert status == 200, body
    assert body["hash"] == tx.hash.hex() and body["receipt"]["status"] == "ok"


def test_duplicate_in_flight_is_refused_once_pending(shared_node):
    """The same bytes posted twice at once: one is admitted, the other is a duplicate or (if the
    first already committed) a replay; the tx is committed exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    net = shared_node
    tx = _tx(net)
    h0 = net.status()["height"]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: net.http("POST", "/tx?wait=commit", tx.encode()),
                             range(2)))
    statuses = sorted(s for s, _ in outs)
    assert statuses[0] == 200
    assert statuses[1] == 409
    err = next(b for s, b in outs if s == 409)["error"]["code"]
    assert err in ("TX_DUPLICATE", "TX_REPLAY")
    assert net.status()["height"] == h0 + 1


@pytest.mark.parametrize("path,status,code", [
    ("/tx/" + "ab" * 32, 404, "NOT_FOUND"),
    ("/tx/not-hex", 400, "BAD_REQUEST"),
    ("/blocks/999999", 404, "NOT_FOUND"),
    ("/blocks/0", 404, "NOT_FOUND"),
    ("/blocks/-1", 404, "NOT_FOUND"),
    ("/blocks/" + "9" * 30, 404, "NOT_FOUND"),
    ("/blocks/abc", 400, "BAD_REQUEST"),
    ("/no/such/route", 404, "NOT_FOUND"),
])
def test_get_unknown_things(shared_node, path, status, code):
    st, body = http("GET", shared_node.url + path)
    assert st == status, body
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("body", [
    b"not json",
    b"[1, 2]",
    b'"sys.members"',
    b'{"contract": "sys.members"}',
    b'{"method": "get"}',
    b'{"contract": "sys.members", "method": "get", "args": [1]}',
])
def test_query_with_a_bad_body_is_400(shared_node, body):
    st, doc = shared_node.http("POST", "/query", body, "application/json")
    assert st == 400, doc
    assert doc["error"]["code"] == "BAD_REQUEST" and doc["error"]["message"]
    assert shared_node.status()["mempool"] == 0


def test_query_reads_a_member_and_wrong_method_is_405(shared_node):
    from chainnode.crypto.address import address_of

    net = shared_node
    admin = address_of(net.admin_key.public_key)
    st, doc = net.http("POST", "/query", json.dumps(
        {"contract": "sys.members", "method": "get", "args": {"address": admin}}).encode(),
        "application/json")
    assert st == 200, doc
    assert doc["value"]["roles"] == ["admin", "operator"]
    st, doc = net.http("POST", "/query", json.dumps(
        {"contract": "sys.members", "method": "get", "args": {"address": "nope"}}).encode(),
        "application/json")
    assert st == 400 and doc["error"]["code"] == "BAD_ARGS"
    st, doc = net.http("DELETE", "/tx")
    assert st == 405 and doc["error"]["code"] == "BAD_REQUEST"
